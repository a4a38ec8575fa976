//! dcgan-wgpu command line: `dcgan-wgpu [OPTIONS]` trains (the seed's DCGAN on MNIST);
//! subcommands sample, score, benchmark and inspect. This file only parses and dispatches:
//! each command lives in `cli/<command>.rs`, the engine in the library.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Trains the DCGAN of "GANs in Action" chapter 4 on MNIST, entirely on the GPU.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: cli::train::TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Samples images from a checkpoint's generator (on the GPU, inference-mode BatchNorm).
    Generate(cli::generate::GenerateArgs),
    /// Times training iterations on an adapter: ms per iteration, GFLOP/s, per-kernel breakdown.
    Bench(cli::bench::BenchArgs),
    /// Trains the MNIST classifier that scores generated digits, and reports its test accuracy.
    Classifier(cli::classifier::ClassifierArgs),
    /// Scores digits: FID, Inception Score, class histogram, confident share.
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Lists the adapters wgpu sees and marks the one a run would pick.
    Adapters(cli::GpuArgs),
    /// Serves the web page (built by web/build.sh) on localhost: training in a browser tab.
    Serve(cli::serve::ServeArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Whether an option was given on the command line (a resumed run rejects contradictions).
    let explicit = |id: &str| {
        matches!(
            matches
                .try_get_raw(id)
                .ok()
                .flatten()
                .and(matches.value_source(id)),
            Some(clap::parser::ValueSource::CommandLine)
        )
    };
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        None => cli::train::run(cli.train, &explicit),
        Some(Command::Generate(args)) => done(cli::generate::run(args)),
        Some(Command::Bench(args)) => done(cli::bench::run(args)),
        Some(Command::Classifier(args)) => done(cli::classifier::run(args)),
        Some(Command::Evaluate(args)) => done(cli::evaluate::run(args)),
        Some(Command::Adapters(args)) => done(cli::adapters::run(args)),
        Some(Command::Serve(args)) => done(cli::serve::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tell!("error: {}", cli::explain(&e));
            ExitCode::FAILURE
        }
    }
}
