// How much a stream of the blob path buffers before it pushes back. Node 20's
// default (16 KiB, 64 KiB from Node 22) is below what one read of a socket
// returns (64 KiB): every chunk of a layer then fills the response's buffer,
// pauses the upstream socket and resumes it once written, two epoll_ctl and
// one write per 64 KiB (strace, 512 MiB pulled: 16,376 epoll_ctl, 8,221 write).
// At 256 KiB the same pull takes 4,091 epoll_ctl and 2,052 writev: libuv
// reads on while the buffer has room, and TLS encrypts several chunks per
// write (Node 22 and later default to 64 KiB). It costs at most 256 KiB more
// per direction and connection while one peer is slower than the other,
// which the kernel's socket buffers (megabytes on a fast link) dwarf; 1 MiB
// cut syscalls further but added 35-40 MiB of peak memory under eight parallel
// pulls (bench/README.md).
import { setDefaultHighWaterMark } from 'node:stream';

export const STREAM_HIGH_WATER_MARK = 256 * 1024;

/**
 * For every byte stream the process makes from now on. Process-wide because
 * the TLS sockets that carry the clients' responses are made by tls.Server,
 * which takes no stream options (https.createServer's highWaterMark reaches
 * requests and responses, not the socket under them, whose mark is what a
 * response's write answers by).
 */
export function useStreamBuffers(): void {
  setDefaultHighWaterMark(false, STREAM_HIGH_WATER_MARK);
}
