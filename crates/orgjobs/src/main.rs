//! `orgjobs`: the command line of the orgjobs job system.

fn main() -> std::process::ExitCode {
    orgjobs::main_with(|registry| registry)
}
