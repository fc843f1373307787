//! Writes the seed corpora: `make_seeds DIR` creates `DIR/<target>/<seed>`
//! and the reproducers of the review's fixed findings as
//! `DIR/<target>/known-<name>` (regression inputs, replayed by every run).

use std::path::Path;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    if let Err(e) =
        std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(name), bytes))
    {
        eprintln!("{}/{name}: {e}", dir.display());
        std::process::exit(1);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "corpus".into());
    for target in vgpu_fuzz::seeds::TARGETS {
        for (name, bytes) in vgpu_fuzz::seeds::seeds(target) {
            write(&Path::new(&dir).join(target), &name, &bytes);
        }
    }
    for (target, name, bytes) in vgpu_fuzz::known::reproducers() {
        write(
            &Path::new(&dir).join(target),
            &format!("known-{name}"),
            &bytes,
        );
    }
}
