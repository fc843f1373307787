//! Tests of the configuration: command line, file, merging, validation.

use super::cli::parse_u32;
use super::*;
use clap::Parser;
use uapi::cmd::field_str;

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["vgpu-host"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => panic!("command line rejected: {e}"),
    }
}

fn field_of(result: Result<Config, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn defaults_fill_an_identity() {
    let config = Config::from_toml("", &cli(&["--socket", "/tmp/x.sock"]));
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.socket, PathBuf::from("/tmp/x.sock"));
    assert!(!config.force);
    assert_eq!(config.executor, ExecutorKind::Sim);
    let info = config.sim.device_info();
    assert_eq!(field_str(&info.name), Some(DEFAULT_NAME));
    assert_eq!(
        field_str(&info.driver_version),
        Some(DEFAULT_DRIVER_VERSION)
    );
    assert_eq!(info.total_memory, 85_899_345_920);
    assert_eq!((info.compute_major, info.compute_minor), (9, 0));
    assert_eq!(info.multiprocessor_count, 132);
    assert_eq!(info.cuda_driver_version, 13000);
    assert_eq!(&info.uuid[..4], &[0x56, 0x47, 0x50, 0x55]);
    assert_eq!(config.ident, Identification::default());
}

#[test]
fn the_queue_poll_window_is_configurable() {
    let us = std::time::Duration::from_micros;
    let config = |file: &str, args: &[&str]| {
        let mut argv = vec!["--socket", "s"];
        argv.extend_from_slice(args);
        Config::from_toml(file, &cli(&argv)).unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(
        config("", &[]).queue_poll_max,
        us(DEFAULT_QUEUE_POLL_MAX_US)
    );
    assert_eq!(
        config("queue_poll_max_us = 500", &[]).queue_poll_max,
        us(500)
    );
    let both = config("queue_poll_max_us = 500", &["--queue-poll-max-us", "0"]);
    assert_eq!(both.queue_poll_max, us(0), "the command line wins");
}

#[test]
fn command_line_overrides_file() {
    let file = r#"
        socket = "/from/file.sock"
        force = true
        [sim]
        name = "File GPU"
        multiprocessors = 10
        compute_capability = "8.6"
    "#;
    let config = Config::from_toml(
        file,
        &cli(&[
            "--name",
            "Cli GPU",
            "--magic",
            "0xdeadbeef",
            "--abi-version",
            "131072",
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.socket, PathBuf::from("/from/file.sock"));
    assert!(config.force);
    assert_eq!(config.sim.name, "Cli GPU");
    assert_eq!(config.sim.multiprocessors, 10);
    assert_eq!((config.sim.compute_major, config.sim.compute_minor), (8, 6));
    assert_eq!(config.ident.magic, 0xdead_beef);
    assert_eq!(config.ident.abi_version, 0x2_0000);
}

#[test]
fn uuid_text_is_checked() {
    assert_eq!(
        parse_uuid("GPU-00112233-4455-6677-8899-aabbccddeeff").ok(),
        Some([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff
        ])
    );
    for bad in [
        "00112233-4455-6677-8899-aabbccddeeff",
        "GPU-00112233-4455-6677-8899-aabbccddeef",
        "GPU-0011223-34455-6677-8899-aabbccddeeff",
        "GPU-0011223g-4455-6677-8899-aabbccddeeff",
        "GPU-+0112233-4455-6677-8899-aabbccddeeff",
        "GPU-00112233-4455-6677-8899-aabbccddeeffaa",
    ] {
        assert!(parse_uuid(bad).is_err(), "{bad} accepted");
    }
    let bad = cli(&["--socket", "s", "--uuid", "GPU-nothex"]);
    assert_eq!(field_of(Config::from_toml("", &bad)), "sim.uuid");
}

#[test]
fn invalid_fields_are_named() {
    let long = "x".repeat(96);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "socket"),
        (vec!["--socket", "s", "--name", &long], "sim.name"),
        (vec!["--socket", "s", "--name", ""], "sim.name"),
        (
            vec!["--socket", "s", "--compute-capability", "9"],
            "sim.compute_capability",
        ),
        (
            vec!["--socket", "s", "--compute-capability", "9.x"],
            "sim.compute_capability",
        ),
        (
            vec!["--socket", "s", "--compute-capability", "0.5"],
            "sim.compute_capability",
        ),
        (
            vec!["--socket", "s", "--multiprocessors", "0"],
            "sim.multiprocessors",
        ),
        (
            vec!["--socket", "s", "--total-memory", "0"],
            "sim.total_memory",
        ),
        (
            vec!["--socket", "s", "--driver-version", &long],
            "sim.driver_version",
        ),
        (vec!["--socket", "s", "--cuda-device=-1"], "cuda_device"),
        (vec!["--socket", "s", "--executor", "opencl"], "executor"),
        (
            vec!["--socket", "s", "--queue-poll-max-us", "100001"],
            "queue_poll_max_us",
        ),
    ];
    for (args, field) in cases {
        assert_eq!(
            field_of(Config::from_toml("", &cli(&args))),
            field,
            "{args:?}"
        );
    }
    let name95 = "y".repeat(95);
    assert!(Config::from_toml("", &cli(&["--socket", "s", "--name", &name95])).is_ok());
}

#[test]
fn executors_and_the_direct_socket_are_configurable() {
    let config = Config::from_toml(
        "executor = \"cuda\"\ndirect_socket = \"d.sock\"\ncuda_device = 1",
        &Cli::default(),
    );
    let config = config.expect("valid");
    assert_eq!(config.executor, ExecutorKind::Cuda);
    assert_eq!(config.direct_socket, Some(PathBuf::from("d.sock")));
    let open = Config::from_toml(
        "direct_socket = \"d.sock\"\n[direct]\ngroup = 7\nuids = [1000]",
        &Cli::default(),
    );
    let open = open.map(|c| c.direct_access);
    assert!(open.is_ok_and(|a| a.group == Some(7) && a.uids == [1000] && a.gids.is_empty()));
    assert_eq!(config.cuda_device, 1);
    let empty = Config::from_toml("direct_socket = \"\"", &Cli::default());
    assert_eq!(field_of(empty), "direct_socket");
    // Without any socket there is nothing to serve.
    let none = Config::from_toml("", &Cli::default());
    assert_eq!(field_of(none), "socket");
    let err = Config::from_toml("executor = \"opencl\"\nsocket = \"s\"", &Cli::default());
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("\"sim\" or \"cuda\""), "{message}");
}

#[test]
fn file_errors_are_reported() {
    let unknown = Config::from_toml("sockett = \"s\"", &Cli::default());
    assert!(matches!(unknown, Err(ConfigError::Parse { .. })));
    let wrong_type = Config::from_toml("[sim]\nmultiprocessors = \"many\"", &Cli::default());
    assert!(matches!(wrong_type, Err(ConfigError::Parse { .. })));
    let missing = Config::load(&cli(&["--config", "/nonexistent/vgpu.toml"]));
    assert!(matches!(missing, Err(ConfigError::Read { .. })));
}

#[test]
fn example_file_is_valid() {
    let text = include_str!("../../vgpu-host.example.toml");
    let config = Config::from_toml(text, &Cli::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.sim.name, DEFAULT_NAME);
    assert_eq!(config.executor, ExecutorKind::Sim);
}

#[test]
fn hex_and_decimal_overrides_parse() {
    assert_eq!(parse_u32("0x10"), Ok(16));
    assert_eq!(parse_u32("16"), Ok(16));
    assert!(parse_u32("0x1_0000_0000").is_err());
    assert!(Cli::try_parse_from(["vgpu-host", "--magic", "nope"]).is_err());
}

#[test]
fn the_socket_owner_is_a_user_name_or_a_uid() {
    let socket = ["--socket", "/tmp/x.sock"];
    let none = Config::from_toml("", &cli(&socket)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(none.socket_owner, None);
    let by_uid = Config::from_toml("socket_owner = 64055", &cli(&socket));
    assert_eq!(by_uid.map(|c| c.socket_owner).ok(), Some(Some(64055)));
    // Every system has root, uid 0.
    let by_name = Config::from_toml("socket_owner = \"root\"", &cli(&socket));
    assert_eq!(by_name.map(|c| c.socket_owner).ok(), Some(Some(0)));
    let on_cli = Config::from_toml(
        "socket_owner = 5",
        &cli(&["--socket", "/tmp/x.sock", "--socket-owner", "77"]),
    );
    assert_eq!(on_cli.map(|c| c.socket_owner).ok(), Some(Some(77)));
    let unknown = Config::from_toml("socket_owner = \"no-such-user-vgpu\"", &cli(&socket));
    assert_eq!(field_of(unknown), "socket_owner");
}
