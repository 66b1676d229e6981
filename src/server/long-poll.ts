import type { FastifyReply } from 'fastify';

/** An AbortSignal that fires when the client goes away before the answer is sent. */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}
