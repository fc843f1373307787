//! Whether a VM's guest RAM is shared, fd-backed memory: vgpu-host maps
//! guest RAM through the file descriptors QEMU passes over vfio-user, which
//! only a shared memory backend has (memfd, or a file with `share=on`).

use std::collections::HashMap;

/// What to put on QEMU's command line instead.
pub const QEMU_HINT: &str = "add -object memory-backend-memfd,id=mem0,size=<RAM>,share=on \
                             -machine memory-backend=mem0";
/// What to put in a libvirt domain instead.
pub const LIBVIRT_HINT: &str =
    "add <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>";

/// Splits a command line as `/proc/PID/cmdline` (NUL-separated) or a shell
/// line (blanks, backslash-newline continuations, simple quotes) gives it.
pub fn split_command_line(text: &str) -> Vec<String> {
    if text.contains('\0') {
        return text
            .split('\0')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
    }
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_arg = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, '\\') if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_arg = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

/// `key=value,...` options of a QEMU option argument; a bare first word is
/// keyed by `""` (the type of `-object`, the kind of `-numa`).
fn options(arg: &str) -> HashMap<&str, &str> {
    arg.split(',')
        .enumerate()
        .map(|(i, kv)| match kv.split_once('=') {
            Some((k, v)) => (k, v),
            None if i == 0 => ("", kv),
            None => (kv, "on"),
        })
        .collect()
}

fn is_on(v: &str) -> bool {
    matches!(v, "on" | "yes" | "true")
}

/// `Ok(description)` when the guest RAM of this QEMU command line is a
/// shared fd-backed memory backend, else `Err(why)`.
pub fn check_qemu_args(args: &[String]) -> Result<String, String> {
    // id -> (type, shared)
    let mut backends: HashMap<String, (String, bool)> = HashMap::new();
    let mut used: Vec<String> = Vec::new();
    let mut mem_path = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.trim_start_matches('-');
        if !a.starts_with('-') {
            continue;
        }
        match flag {
            "mem-path" => mem_path = true,
            "object" | "machine" | "M" | "numa" => {
                let Some(v) = it.next() else { break };
                let o = options(v);
                match flag {
                    "object" => {
                        let kind = o.get("").copied().or(o.get("qom-type").copied());
                        let Some(kind) = kind.filter(|k| k.starts_with("memory-backend-")) else {
                            continue;
                        };
                        let Some(id) = o.get("id") else { continue };
                        // memfd is shared unless told otherwise; file and
                        // ram are private unless share=on.
                        let shared = match o.get("share") {
                            Some(s) => is_on(s),
                            None => kind == "memory-backend-memfd",
                        };
                        backends.insert(id.to_string(), (kind.to_string(), shared));
                    }
                    "numa" => used.extend(o.get("memdev").map(|m| m.to_string())),
                    _ => used.extend(o.get("memory-backend").map(|m| m.to_string())),
                }
            }
            _ => {}
        }
    }
    if used.is_empty() {
        let why = if mem_path {
            "guest RAM is -mem-path memory, not a shared memory backend".to_string()
        } else if backends.is_empty() {
            "guest RAM is QEMU's private anonymous memory (no memory-backend object)".to_string()
        } else {
            "no -machine memory-backend= or -numa memdev= uses the memory backend".to_string()
        };
        return Err(format!("{why}; {QEMU_HINT}"));
    }
    let mut described = Vec::new();
    for id in &used {
        match backends.get(id) {
            None => return Err(format!("memory backend {id:?} is used but not defined")),
            Some((kind, _)) if kind == "memory-backend-ram" => {
                return Err(format!(
                    "guest RAM {id:?} is {kind}, which QEMU cannot pass as a file descriptor; \
                     {QEMU_HINT}"
                ))
            }
            Some((kind, false)) => {
                return Err(format!(
                    "guest RAM {id:?} ({kind}) is private (share=off); {QEMU_HINT}"
                ))
            }
            Some((kind, true)) => described.push(format!("{id} ({kind}, shared)")),
        }
    }
    Ok(format!("guest RAM is {}", described.join(", ")))
}

/// The same for a libvirt domain definition.
pub fn check_libvirt_xml(xml: &str) -> Result<String, String> {
    let squeezed: String = xml
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    let Some(start) = squeezed.find("<memoryBacking>") else {
        return Err(format!("the domain has no <memoryBacking>; {LIBVIRT_HINT}"));
    };
    let end = squeezed[start..]
        .find("</memoryBacking>")
        .map_or(squeezed.len(), |e| start + e);
    let backing = &squeezed[start..end];
    let fd_backed = ["type='memfd'", "type='file'"]
        .iter()
        .any(|t| backing.contains(&format!("<source{t}")));
    let shared = backing.contains("<accessmode='shared'");
    match (fd_backed, shared) {
        (true, true) => Ok("the domain's memory is shared and fd-backed".into()),
        (false, _) => Err(format!(
            "the domain's <memoryBacking> has no memfd or file source; {LIBVIRT_HINT}"
        )),
        (true, false) => Err(format!(
            "the domain's <memoryBacking> is not <access mode='shared'/>; {LIBVIRT_HINT}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu(line: &str) -> Result<String, String> {
        check_qemu_args(&split_command_line(line))
    }

    #[test]
    fn the_test_beds_command_line_is_shared() {
        let r = qemu(
            "qemu-system-x86_64 -machine pc,memory-backend=mem0 \\\n -object memory-backend-memfd,id=mem0,size=1024M,share=on -m 1024M",
        );
        assert_eq!(
            r,
            Ok("guest RAM is mem0 (memory-backend-memfd, shared)".into())
        );
    }

    #[test]
    fn memfd_is_shared_by_default_and_numa_memdev_counts() {
        assert!(qemu("qemu -object memory-backend-memfd,id=m -numa node,memdev=m").is_ok());
        assert!(qemu("qemu -object memory-backend-file,id=m,mem-path=/dev/shm/x,share=on -M q35,memory-backend=m").is_ok());
    }

    #[test]
    fn private_or_missing_backends_fail_with_the_fix() {
        let plain = qemu("qemu-system-x86_64 -m 4G -enable-kvm").unwrap_err();
        assert!(plain.contains("private anonymous memory"), "{plain}");
        assert!(plain.contains("memory-backend-memfd"), "{plain}");
        let off =
            qemu("qemu -object memory-backend-memfd,id=m,share=off -machine memory-backend=m")
                .unwrap_err();
        assert!(off.contains("private (share=off)"), "{off}");
        let file =
            qemu("qemu -object memory-backend-file,id=m,mem-path=/x -machine memory-backend=m")
                .unwrap_err();
        assert!(file.contains("private"), "{file}");
        let ram = qemu("qemu -object memory-backend-ram,id=m,share=on -machine memory-backend=m")
            .unwrap_err();
        assert!(ram.contains("file descriptor"), "{ram}");
        let unused = qemu("qemu -object memory-backend-memfd,id=m").unwrap_err();
        assert!(unused.contains("no -machine memory-backend="), "{unused}");
        let undefined = qemu("qemu -machine memory-backend=x").unwrap_err();
        assert!(undefined.contains("not defined"), "{undefined}");
    }

    #[test]
    fn proc_cmdline_is_split_on_nuls() {
        let args = split_command_line(
            "qemu\0-object\0memory-backend-memfd,id=m\0-M\0pc,memory-backend=m\0",
        );
        assert_eq!(args.len(), 5);
        assert!(check_qemu_args(&args).is_ok());
    }

    #[test]
    fn shell_quotes_are_removed() {
        assert_eq!(
            split_command_line("a 'b c' \"d\"e f\\ g"),
            vec!["a", "b c", "de", "f g"]
        );
    }

    #[test]
    fn libvirt_memory_backing() {
        let ok = "<domain><memoryBacking>\n  <source type=\"memfd\"/>\n  <access mode='shared'/>\n</memoryBacking></domain>";
        assert!(check_libvirt_xml(ok).is_ok());
        let private = "<domain><memoryBacking><source type='memfd'/></memoryBacking></domain>";
        assert!(check_libvirt_xml(private)
            .unwrap_err()
            .contains("access mode='shared'"));
        assert!(check_libvirt_xml("<domain/>")
            .unwrap_err()
            .contains("no <memoryBacking>"));
    }
}
