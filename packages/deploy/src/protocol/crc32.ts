/** CRC-32/IEEE, the same as the kernel's `kcore::crc32` (one implementation, in the kit). */
export { crc32 } from '@tars/core';
