//! `orgjobs-fault-worker`: the `orgjobs` command line with one more tenant
//! kind, `FAULT_PROBE`, whose effect can be counted. Used by the crash,
//! shutdown and connection-kill tests and by `orgjobs-faultrun`; not for
//! production.

fn main() -> std::process::ExitCode {
    orgjobs::main_with(|registry| registry.tenant(orgjobs::probe::FaultProbe))
}
