/**
 * The ext4 superblock fields that tell whether an ext4 can hold project quotas (an on-disk format,
 * read from the block device; no kernel header declares it to user space).
 */

/** The ext4 superblock starts at byte 1024 of the device; these offsets are within it. */
export const EXT4_SB_OFFSET = 1024;
export const EXT4_SB_MAGIC_OFF = 0x38; // u16 0xEF53
export const EXT4_SB_RO_COMPAT_OFF = 0x64; // u32 s_feature_ro_compat
export const EXT4_SB_INODE_SIZE_OFF = 0x58; // u16 s_inode_size
export const EXT4_FEATURE_RO_COMPAT_QUOTA = 0x100;
export const EXT4_FEATURE_RO_COMPAT_PROJECT = 0x2000;
export const EXT4_SUPER_MAGIC = 0xef53;
export const XFS_SUPER_MAGIC = 0x58465342;

export function decodeExt4Features(sb: Buffer): { magic: boolean; quota: boolean; project: boolean; inodeSize: number } {
  const magic = sb.length >= 0x68 && sb.readUInt16LE(EXT4_SB_MAGIC_OFF) === EXT4_SUPER_MAGIC;
  if (!magic) return { magic: false, quota: false, project: false, inodeSize: 0 };
  const ro = sb.readUInt32LE(EXT4_SB_RO_COMPAT_OFF);
  return {
    magic,
    quota: (ro & EXT4_FEATURE_RO_COMPAT_QUOTA) !== 0,
    project: (ro & EXT4_FEATURE_RO_COMPAT_PROJECT) !== 0,
    inodeSize: sb.readUInt16LE(EXT4_SB_INODE_SIZE_OFF),
  };
}
