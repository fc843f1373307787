// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The command line of `vgpu-smi`.

pub(crate) const USAGE: &str =
    "usage: vgpu-smi [-i N] [-L | --json | --query-gpu=FIELDS --format=csv[,noheader][,nounits]]\n";

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    pub(crate) list: bool,
    pub(crate) json: bool,
    pub(crate) query: Option<Vec<String>>,
    pub(crate) csv: bool,
    pub(crate) header: bool,
    pub(crate) units: bool,
    pub(crate) only: Option<u32>,
}

pub(crate) fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        header: true,
        units: true,
        ..Default::default()
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{key} needs a value"))
        };
        match key {
            "-L" | "--list-gpus" => a.list = true,
            "--json" | "-j" => a.json = true,
            "--query-gpu" => {
                a.query = Some(value()?.split(',').map(|s| s.trim().to_owned()).collect());
            }
            "--format" => {
                for f in value()?.split(',') {
                    match f.trim() {
                        "csv" => a.csv = true,
                        "noheader" => a.header = false,
                        "nounits" => a.units = false,
                        o => return Err(format!("unknown format option \"{o}\"")),
                    }
                }
            }
            "-i" | "--id" => {
                a.only = Some(
                    value()?
                        .parse()
                        .map_err(|_| "-i needs a GPU index".to_owned())?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            o => return Err(format!("unknown option \"{o}\"")),
        }
    }
    if a.query.is_some() && !a.csv {
        return Err("--query-gpu needs --format=csv".into());
    }
    Ok(a)
}
