/** File helpers the demos share: a random sample file and a file's sha256. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** sha256 (hex) of a file, streamed. */
export async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Write `size` random bytes to `path` in 1 MiB chunks (memory stays flat whatever the size). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < size;) {
      const n = Math.min(1024 * 1024, size - off);
      await fh.write(randomBytes(n), 0, n, off);
      off += n;
    }
  } finally {
    await fh.close();
  }
}
