/**
 * The migrations a bundle carries. Under tsx this is empty and `migrate` reads shared/db/migrations; the build
 * (deploy/build.ts) replaces this module with the SQL of that folder inlined, because a bundle in dist/ has no
 * folder beside it to read (and the image ships no sources).
 */
export interface BundledMigration {
  /** The file name, `NNNN_name.sql`. */
  file: string;
  sql: string;
}

export const bundledMigrations: readonly BundledMigration[] | undefined = undefined;
