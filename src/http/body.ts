// Request bodies with a size cap that leaves the connection usable. A reply
// sent before the client finished uploading leaves the rest of the body in
// the connection; if the server then closes it while saying keep-alive, the
// client's next request on it fails ("other side closed"). So an oversized
// or refused body is read and thrown away, up to a bound and for a bounded
// time; only past that bound does the reply say Connection: close.
import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../errors.ts';

export interface BodyLimits {
  /** The largest body accepted. */
  maxBytes: number;
  /** Bytes of an unwanted body read and discarded before giving up on the connection. */
  maxDiscardBytes: number;
  /** Time spent discarding before giving up on the connection. */
  discardTimeoutMs?: number;
}

const DEFAULT_DISCARD_TIMEOUT_MS = 5_000;

/** A too_large refusal; `drained` says whether the connection can carry another request. */
export class BodyTooLarge extends AppError {
  readonly drained: boolean;

  constructor(maxBytes: number, drained: boolean) {
    super('too_large', `body is larger than ${maxBytes} bytes`);
    this.drained = drained;
  }
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;

/** Reads and drops what is left of a body: true if it ended within the byte and time bounds. */
async function discard(reader: Reader, budgetBytes: number, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    let seen = 0;
    for (;;) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === 'timeout') return false;
      if (next.done) return true;
      seen += next.value.byteLength;
      if (seen > budgetBytes) return false;
    }
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function declaredLength(req: Request): number | undefined {
  if (req.headers.has('transfer-encoding')) return undefined;
  const value = req.headers.get('content-length');
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** The body as UTF-8 text, or BodyTooLarge once it passes maxBytes (after discarding the rest). */
export async function readBodyText(req: Request, limits: BodyLimits): Promise<string> {
  const { maxBytes, maxDiscardBytes } = limits;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > maxBytes + maxDiscardBytes) throw new BodyTooLarge(maxBytes, false);
  if (!req.body) return '';
  const reader = req.body.getReader() as Reader;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      const drained = await discard(reader, maxBytes + maxDiscardBytes - size, limits.discardTimeoutMs ?? DEFAULT_DISCARD_TIMEOUT_MS);
      throw new BodyTooLarge(maxBytes, drained);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Around a route: a request refused before its body was read (a limit, a
 * content type) still has its body discarded within the bounds, and a reply
 * whose body could not be discarded closes the connection instead of
 * promising keep-alive.
 */
export function bodyHygiene(limits: BodyLimits): MiddlewareHandler {
  return async (c: Context, next) => {
    await next();
    const req = c.req.raw;
    let drained = true;
    if (c.error instanceof BodyTooLarge) drained = c.error.drained;
    else if (req.body && !req.bodyUsed) {
      const declared = declaredLength(req);
      drained =
        declared !== undefined && declared > limits.maxBytes + limits.maxDiscardBytes
          ? false
          : await discard(req.body.getReader() as Reader, limits.maxBytes + limits.maxDiscardBytes, limits.discardTimeoutMs ?? DEFAULT_DISCARD_TIMEOUT_MS);
    }
    if (!drained) c.res.headers.set('Connection', 'close');
  };
}
