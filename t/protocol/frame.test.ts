import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, FrameReader, FrameTooLargeError } from '../../runner/protocol/frame.js';
import { FrameType, MAX_FRAME_BODY } from '../../runner/protocol/messages.js';

test('header is type + 24-bit big-endian length', () => {
  const f = encodeFrame(FrameType.PrepareConf, new Uint8Array(70_000));
  assert.deepEqual([...f.subarray(0, 4)], [0x01, 0x01, 0x11, 0x70]);
  assert.equal(f.length, 70_004);
  const small = encodeFrame(FrameType.HTTPRespCall, Uint8Array.of(9, 8, 7));
  assert.deepEqual([...small], [4, 0, 0, 3, 9, 8, 7]);
});

test('encodeFrame refuses a body over 16 777 215 bytes', () => {
  assert.throws(() => encodeFrame(FrameType.Error, new Uint8Array(MAX_FRAME_BODY + 1)), FrameTooLargeError);
  assert.equal(encodeFrame(FrameType.Error, new Uint8Array(MAX_FRAME_BODY)).length, MAX_FRAME_BODY + 4);
});

test('reader waits for a whole frame: truncated header and truncated body yield nothing', () => {
  const r = new FrameReader();
  r.push(Buffer.from([2, 0]));
  assert.equal(r.next(), undefined);
  r.push(Buffer.from([0, 3, 1, 2]));
  assert.equal(r.next(), undefined);
  assert.equal(r.buffered, 6);
  r.push(Buffer.from([3]));
  const f = r.next();
  assert.ok(f);
  assert.equal(f.type, 2);
  assert.deepEqual([...f.body], [1, 2, 3]);
  assert.equal(r.next(), undefined);
  assert.equal(r.buffered, 0);
});

test('reader rejects a length over its limit as soon as the header is known', () => {
  const r = new FrameReader(10);
  r.push(Buffer.from([1, 0, 0, 11]));
  assert.throws(() => r.next(), FrameTooLargeError);
  const full = new FrameReader();
  full.push(Buffer.from([1, 0xff, 0xff, 0xff, 0]));
  assert.equal(full.next(), undefined, 'the 16 MiB - 1 maximum itself is accepted (waits for the body)');
});

test('zero-length bodies and several frames in one chunk', () => {
  const r = new FrameReader();
  r.push(Buffer.concat([encodeFrame(0, new Uint8Array(0)), encodeFrame(3, Uint8Array.of(5)), Buffer.from([1, 0])]));
  const first = r.next();
  assert.equal(first?.type, 0);
  assert.equal(first?.body.length, 0);
  const second = r.next();
  assert.equal(second?.type, 3);
  assert.deepEqual([...second!.body], [5]);
  assert.equal(r.next(), undefined);
});

test('property: any chunking of any frame sequence yields the same frames', () => {
  const frameArb = fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 300 }) });
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (frames, cuts) => {
      const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type as FrameType, f.body)));
      const r = new FrameReader();
      const out: { type: number; body: number[] }[] = [];
      let pos = 0;
      let i = 0;
      while (pos < wire.length) {
        const n = cuts[i++ % cuts.length]!;
        r.push(wire.subarray(pos, pos + n));
        pos += n;
        for (let f = r.next(); f; f = r.next()) out.push({ type: f.type, body: [...f.body] });
      }
      assert.deepEqual(out, frames.map((f) => ({ type: f.type, body: [...f.body] })));
      assert.equal(r.buffered, 0);
    }),
    { numRuns: 300 },
  );
});
