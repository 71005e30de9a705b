/** The RabbitMQ every dev and CI machine runs; override with AMQP_URL. */
export const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
