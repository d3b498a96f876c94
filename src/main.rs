//! The `orc` binary: everything lives in the library; this maps the result
//! to an exit code.

fn main() {
    std::process::exit(orc::cli::run(std::env::args_os().collect()));
}
