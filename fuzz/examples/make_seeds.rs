//! Writes the seed corpora: `make_seeds DIR [KNOWN_DIR]` creates
//! `DIR/<target>/<seed>`, and with `KNOWN_DIR` the reproducers of known
//! findings as `KNOWN_DIR/<target>/<name>`.

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
    if let Some(known) = args.next() {
        for (target, name, bytes) in vgpu_fuzz::known::reproducers() {
            write(&Path::new(&known).join(target), name, &bytes);
        }
    }
}
