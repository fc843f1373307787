//! `vgpu-smi cdi generate`: the spec's content, and its validity against
//! the CDI schema (`cdi-schema.json`, checked with Python's jsonschema).

use std::process::Command;

use super::cdi::{run, spec, Inventory, CDI_VERSION, KIND};

const SCHEMA: &str = include_str!("cdi-schema.json");

fn inventory() -> Inventory {
    Inventory {
        nodes: vec![(0, "/dev/vgpu0".into()), (1, "/dev/vgpu1".into())],
        gid: Some(998),
        lib_dir: "/usr/lib/x86_64-linux-gnu".into(),
        smi: "/usr/bin/vgpu-smi".into(),
    }
}

/// Validates `doc` against `SCHEMA`: `Ok(None)` valid, `Ok(Some(why))`
/// invalid, `Err` when Python's jsonschema is not there to ask.
fn validate(doc: &serde_json::Value) -> Result<Option<String>, String> {
    let dir = std::env::temp_dir().join(format!("vgpu-cdi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (schema, spec) = (dir.join("schema.json"), dir.join("spec.json"));
    std::fs::write(&schema, SCHEMA).map_err(|e| e.to_string())?;
    std::fs::write(&spec, doc.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys\n\
             try:\n    import jsonschema\nexcept ImportError:\n    sys.exit(3)\n\
             s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n\
             jsonschema.Draft7Validator.check_schema(s)\n\
             errs = [e.message for e in jsonschema.Draft7Validator(s).iter_errors(d)]\n\
             print('; '.join(errs)); sys.exit(1 if errs else 0)\n",
        )
        .arg(&schema)
        .arg(&spec)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    match out.status.code() {
        Some(0) => Ok(None),
        Some(1) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
        Some(3) => Err("python3 has no jsonschema".into()),
        _ => Err(format!("python3: {}", String::from_utf8_lossy(&out.stderr))),
    }
}

#[test]
fn the_spec_lists_each_node_all_and_the_shared_edits() {
    let s = spec(&inventory());
    assert_eq!(s["cdiVersion"], CDI_VERSION);
    assert_eq!(s["kind"], KIND);
    let names: Vec<&str> = s["devices"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["0", "1", "all"]);
    assert_eq!(
        s["devices"][0]["containerEdits"]["deviceNodes"][0]["path"],
        "/dev/vgpu0"
    );
    assert_eq!(
        s["devices"][2]["containerEdits"]["deviceNodes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let mounts: Vec<(&str, &str)> = s["containerEdits"]["mounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| Some((m["hostPath"].as_str()?, m["containerPath"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let lib = |f: &str| format!("/usr/lib/x86_64-linux-gnu/{f}");
    for (host, container) in [
        (lib("libcuda.so.1"), lib("libcuda.so.1")),
        (lib("libcuda.so.1"), lib("libcuda.so")),
        (lib("libnvidia-ml.so.1"), lib("libnvidia-ml.so.1")),
        (lib("libnvidia-ml.so.1"), lib("libnvidia-ml.so")),
        ("/usr/bin/vgpu-smi".into(), "/usr/bin/vgpu-smi".into()),
    ] {
        assert!(
            mounts.contains(&(&host, &container)),
            "{host} -> {container} in {mounts:?}"
        );
    }
    assert_eq!(
        s["containerEdits"]["additionalGids"],
        serde_json::json!([998])
    );
    // A node of root's group adds no group.
    let s = spec(&Inventory {
        gid: None,
        ..inventory()
    });
    assert!(s["containerEdits"].get("additionalGids").is_none());
}

#[test]
fn the_spec_is_valid_cdi_and_the_schema_rejects_broken_ones() {
    let good = spec(&inventory());
    match validate(&good) {
        Err(e) => {
            // Not every machine has it; CI's has (python3-jsonschema).
            eprintln!("skipped the schema check: {e}");
            return;
        }
        Ok(why) => assert_eq!(why, None, "{good}"),
    }
    let mut bad_kind = good.clone();
    bad_kind["kind"] = "gpu".into();
    let mut bad_name = good.clone();
    bad_name["devices"][0]["name"] = "-0".into();
    let mut relative = good.clone();
    relative["containerEdits"]["mounts"][0]["hostPath"] = "lib/libcuda.so.1".into();
    let mut no_edits = good.clone();
    if let Some(d) = no_edits["devices"][0].as_object_mut() {
        d.remove("containerEdits");
    }
    for (what, doc) in [
        ("kind", bad_kind),
        ("name", bad_name),
        ("path", relative),
        ("edits", no_edits),
    ] {
        let why = validate(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert!(why.is_some(), "a spec with a bad {what} passed: {doc}");
    }
}

#[test]
fn the_command_line_is_checked() {
    let (code, _, err) = run(&["list".into()]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["generate".into(), "--bogus".into()]);
    assert_eq!(code, 2, "{err}");
}
