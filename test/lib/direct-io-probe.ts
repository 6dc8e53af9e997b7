/** Test helper: does this directory's file system take O_DIRECT writes from a page-aligned buffer? */
import assert from 'node:assert/strict';
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PieceAssembly } from '../../lib/engine/piece-assembly.js';
import { DIRECT_IO_ALIGN } from '../../lib/files/piece-store.js';

export function directWorksIn(dir: string): boolean {
  const a = new PieceAssembly(DIRECT_IO_ALIGN, 1, true);
  assert.ok(a.openPiece(0));
  const buf = a.take(0, DIRECT_IO_ALIGN)!;
  const path = join(dir, 'probe');
  try {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT, 0o644);
    try { return writeSync(fd, buf, 0, buf.length, 0) === buf.length; } finally { closeSync(fd); unlinkSync(path); }
  } catch {
    return false;
  }
}
