// Frame layer (docs/ext-plugin-protocol.md §3.1): 1 type byte + 3-byte big-endian body length + body.
// FrameReader reassembles frames from arbitrary socket chunks (docs/ext-plugin-protocol.md §3.4: a frame may
// arrive one byte at a time, or several frames in one chunk).

import { MAX_FRAME_BODY, type FrameType } from './messages.js';

export const FRAME_HEADER_SIZE = 4;

export class FrameTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`frame body of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/** Writes the 4-byte header for a body of `length` bytes into `out` at `at`. */
export function writeFrameHeader(out: Uint8Array, at: number, type: number, length: number): void {
  if (length > MAX_FRAME_BODY) throw new FrameTooLargeError(length, MAX_FRAME_BODY);
  out[at] = type;
  out[at + 1] = (length >>> 16) & 0xff;
  out[at + 2] = (length >>> 8) & 0xff;
  out[at + 3] = length & 0xff;
}

/** One frame: header + body in a single buffer (one write, one syscall). */
export function encodeFrame(type: FrameType, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  writeFrameHeader(out, 0, type, body.length);
  out.set(body, FRAME_HEADER_SIZE);
  return out;
}

export interface Frame {
  type: number;
  /** Aliases the received chunk when the frame arrived in one piece; never reused by the reader. */
  body: Uint8Array;
}

/**
 * Accumulates chunks and yields complete frames. Chunks are kept by reference (Node never
 * reuses a socket chunk), so a frame that lies inside one chunk is returned without copying.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private head = 0;
  /** Unconsumed bytes across all chunks. */
  private available = 0;
  private readonly maxBody: number;

  constructor(maxBody: number = MAX_FRAME_BODY) {
    this.maxBody = Math.min(maxBody, MAX_FRAME_BODY);
  }

  /** Bytes received but not yet returned as frames (a partial frame at EOF = truncation). */
  get buffered(): number {
    return this.available;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws FrameTooLargeError. */
  next(): Frame | undefined {
    if (this.available < FRAME_HEADER_SIZE) return undefined;
    const first = this.chunks[0]!;
    let type: number;
    let length: number;
    if (first.length - this.head >= FRAME_HEADER_SIZE) {
      const h = this.head;
      type = first[h]!;
      length = (first[h + 1]! << 16) | (first[h + 2]! << 8) | first[h + 3]!;
    } else {
      type = this.peekByte(0);
      length = (this.peekByte(1) << 16) | (this.peekByte(2) << 8) | this.peekByte(3);
    }
    // Checked as soon as the header is known, before buffering (or allocating) the body.
    if (length > this.maxBody) throw new FrameTooLargeError(length, this.maxBody);
    if (this.available < FRAME_HEADER_SIZE + length) return undefined;

    let body: Uint8Array;
    const start = this.head + FRAME_HEADER_SIZE;
    if (first.length >= start + length) {
      body = first.subarray(start, start + length);
      this.consume(FRAME_HEADER_SIZE + length);
    } else {
      this.consume(FRAME_HEADER_SIZE);
      body = this.take(length);
    }
    return { type, body };
  }

  private peekByte(index: number): number {
    let i = this.head + index;
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    throw new RangeError('peek past buffered data');
  }

  /** Copies `length` bytes out of the chunk list (the frame spans chunks). */
  private take(length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const c = this.chunks[0]!;
      const n = Math.min(c.length - this.head, length - filled);
      c.copy(out, filled, this.head, this.head + n);
      filled += n;
      this.consume(n);
    }
    return out;
  }

  private consume(n: number): void {
    this.available -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
