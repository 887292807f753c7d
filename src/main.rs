//! The `telemetron` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    telemetron::main_entry()
}
