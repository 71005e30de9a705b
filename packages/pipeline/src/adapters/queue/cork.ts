import type { Socket } from "node:net";
import type { Connection } from "rabbitmq-client";

const corked = new WeakSet<Socket>();

/**
 * Holds the connection's socket writes until the end of this tick, so that the publishes made in one
 * synchronous run (a relay round's messages, an event flush) leave in one writev instead of one system
 * call each: rabbitmq-client writes every message's frames as soon as it is sent. Reaches into the
 * client's socket (`_socket`, rabbitmq-client 5); without one (connecting, another version) it does
 * nothing. Cork and uncork stay paired, so the client's own cork (connection.blocked) is kept.
 */
export function corkUntilNextTick(conn: Connection): void {
  const socket = (conn as unknown as { _socket?: Socket })._socket;
  if (!socket || corked.has(socket) || typeof socket.cork !== "function" || !socket.writable) return;
  socket.cork();
  corked.add(socket);
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
