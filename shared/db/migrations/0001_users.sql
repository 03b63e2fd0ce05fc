-- Users of the signing domain. Emails keep the letter case the user typed but are unique ignoring it.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  name text,
  role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
