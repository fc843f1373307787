//! Why a device node cannot be opened, in words a user can act on: the node,
//! its owner, group and mode, and the group to join. `cuInit`'s log and
//! `vgpu-smi` both say it; NVIDIA's driver only says "no CUDA-capable
//! device".

use std::{ffi::CStr, os::unix::fs::MetadataExt, path::Path};

/// The group `install.sh` gives the nodes.
pub const DEVICE_GROUP: &str = "vgpu";

/// Owner, group and permission bits of a node, with names where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAccess {
    /// Owner's name (or uid).
    pub owner: String,
    /// Group's name (or gid).
    pub group: String,
    /// Whether the group is root's (gid 0).
    pub group_is_root: bool,
    /// Permission bits.
    pub mode: u32,
}

impl NodeAccess {
    /// Reads `path`'s owner, group and mode; `None` if it cannot be stat'ed.
    pub fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            owner: user_name(m.uid()).unwrap_or_else(|| m.uid().to_string()),
            group: group_name(m.gid()).unwrap_or_else(|| m.gid().to_string()),
            group_is_root: m.gid() == 0,
            mode: m.mode() & 0o7777,
        })
    }
}

/// What the calling user is: for the hint's `usermod` line.
fn current_user() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// What to tell a user whose open of the node `path` failed with `errno`.
pub fn explain_open_error(path: &Path, errno: i32) -> String {
    let access = NodeAccess::of(path);
    describe(path, errno, access.as_ref(), &current_user())
}

/// [`explain_open_error`] with the node's state and the user given.
pub fn describe(path: &Path, errno: i32, access: Option<&NodeAccess>, user: &str) -> String {
    let node = path.display();
    let error = std::io::Error::from_raw_os_error(errno);
    match (errno, access) {
        (libc::EACCES | libc::EPERM, Some(a)) => {
            let perms = format!("owner {}, group {}, mode {:04o}", a.owner, a.group, a.mode);
            if a.group_is_root {
                // Nobody can be let in by group: the install did not (or
                // not yet) give the node its group.
                format!(
                    "cannot open {node}: {error} ({perms}); the node should have group \
                     {DEVICE_GROUP}, mode 0660: run vgpu's install.sh again (or reload vgpu.ko), \
                     then join group {DEVICE_GROUP} (sudo usermod -aG {DEVICE_GROUP} {user}, \
                     then log in again or restart the service)"
                )
            } else {
                format!(
                    "cannot open {node}: {error} ({perms}); join group {} to use it \
                     (sudo usermod -aG {} {user}, then log in again or restart the service)",
                    a.group, a.group
                )
            }
        }
        (libc::EACCES | libc::EPERM, None) => format!(
            "cannot open {node}: {error}; join group {DEVICE_GROUP} to use it \
             (sudo usermod -aG {DEVICE_GROUP} {user}, then log in again or restart the service)"
        ),
        (libc::ENOENT | libc::ENODEV | libc::ENXIO, _) => format!(
            "cannot open {node}: {error}: the vgpu kernel module (vgpu.ko) is not loaded \
             or found no VGPU-STUB device (lsmod | grep vgpu; dmesg | grep vgpu)"
        ),
        _ => format!("cannot open {node}: {error}"),
    }
}

/// Looks a name up with a `get*_r` function, growing the buffer on ERANGE.
fn lookup<T>(
    call: impl Fn(&mut T, &mut [u8], &mut *mut T) -> libc::c_int,
    name_of: impl Fn(&T) -> *const libc::c_char,
) -> Option<String> {
    let mut len = 1024;
    while len <= 1 << 20 {
        let mut buf = vec![0u8; len];
        // SAFETY: all-zero is a valid `passwd`/`group` (null pointers, zero ids).
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut found: *mut T = std::ptr::null_mut();
        match call(&mut entry, &mut buf, &mut found) {
            0 if found.is_null() => return None,
            0 => {
                // SAFETY: on success the name points into `buf`, NUL-terminated.
                let name = unsafe { CStr::from_ptr(name_of(&entry)) };
                return Some(name.to_string_lossy().into_owned());
            }
            libc::ERANGE => len *= 4,
            _ => return None,
        }
    }
    None
}

fn user_name(uid: u32) -> Option<String> {
    lookup::<libc::passwd>(
        // SAFETY: every pointer is valid for the call and `buf` for its length.
        |e, buf, found| unsafe {
            libc::getpwuid_r(uid, e, buf.as_mut_ptr().cast(), buf.len(), found)
        },
        |e| e.pw_name,
    )
}

fn group_name(gid: u32) -> Option<String> {
    lookup::<libc::group>(
        // SAFETY: every pointer is valid for the call and `buf` for its length.
        |e, buf, found| unsafe {
            libc::getgrgid_r(gid, e, buf.as_mut_ptr().cast(), buf.len(), found)
        },
        |e| e.gr_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(group: &str, mode: u32) -> NodeAccess {
        NodeAccess {
            owner: "root".into(),
            group: group.into(),
            group_is_root: group == "root",
            mode,
        }
    }

    #[test]
    fn a_denied_open_names_the_node_its_permissions_and_the_group() {
        let m = describe(
            Path::new("/dev/vgpu0"),
            libc::EACCES,
            Some(&node("vgpu", 0o660)),
            "bob",
        );
        assert!(
            m.starts_with("cannot open /dev/vgpu0: Permission denied"),
            "{m}"
        );
        assert!(m.contains("owner root, group vgpu, mode 0660"), "{m}");
        assert!(m.contains("join group vgpu"), "{m}");
        assert!(m.contains("usermod -aG vgpu bob"), "{m}");
    }

    #[test]
    fn a_root_only_node_asks_for_the_install_and_the_vgpu_group() {
        let m = describe(
            Path::new("/dev/vgpu0"),
            libc::EACCES,
            Some(&node("root", 0o600)),
            "bob",
        );
        assert!(m.contains("owner root, group root, mode 0600"), "{m}");
        assert!(m.contains("install.sh"), "{m}");
        assert!(m.contains("usermod -aG vgpu bob"), "{m}");
    }

    #[test]
    fn a_missing_node_points_at_the_module() {
        let m = describe(Path::new("/dev/vgpu0"), libc::ENOENT, None, "bob");
        assert!(m.contains("vgpu.ko"), "{m}");
    }

    #[test]
    fn a_real_node_is_read_with_names() {
        // /dev/null exists everywhere, owned by root with mode 0666.
        let a = NodeAccess::of(Path::new("/dev/null")).expect("stat /dev/null");
        assert_eq!(a.owner, "root");
        assert_eq!(a.mode, 0o666);
        assert!(NodeAccess::of(Path::new("/nonexistent/vgpu0")).is_none());
    }
}
