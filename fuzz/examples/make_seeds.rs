//! Writes the seed corpora: `make_seeds DIR` creates `DIR/<target>/<seed>`.

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    for target in vgpu_fuzz::seeds::TARGETS {
        let path = std::path::Path::new(&dir).join(target);
        if let Err(e) = std::fs::create_dir_all(&path) {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        }
        for (name, bytes) in vgpu_fuzz::seeds::seeds(target) {
            if let Err(e) = std::fs::write(path.join(&name), &bytes) {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
        }
    }
}
