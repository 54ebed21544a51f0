use std::process::ExitCode;

fn main() -> ExitCode {
    lmi::cli::main()
}
