/**
 * Where the real services the tests talk to live. CI and developer machines run them on loopback;
 * override with the TEST_* variables to point elsewhere.
 */
export const services = {
  databaseUrl: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  amqpUrl: process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  mongoUrl: process.env.MONGO_URL,
};
