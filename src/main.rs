//! The `handtrace` command line: argument parsing, reading files, exit codes.
//!
//! Exit status: 0 all good; 1 a claim or step was refuted or undecided (or a `!=` was not
//! refuted); 2 bad input or usage
//! (with a diagnostic on stderr naming FILE:LINE:COLUMN).

use clap::{Parser, Subcommand, ValueEnum};
use handtrace::ir::LowerOptions;
use handtrace::verify::Verdict;
use handtrace::{load_program, render};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "handtrace",
    version,
    about = "Derive, simplify and exactly check the gradients of transformer layers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve `use`, shape-check; print each statement with its shape.
    Show {
        file: PathBuf,
        /// Sizes for the dims, e.g. T=2,d=3 (overrides the declared sizes).
        #[arg(long, value_parser = parse_dims)]
        dims: Option<DimSizes>,
    },
    /// Derive the gradients: the backward pass as a program in the forward pass's names.
    Grad {
        file: PathBuf,
        /// Tensors to differentiate with respect to (default: every input and param).
        #[arg(long)]
        wrt: Vec<String>,
        /// Check each gradient exactly against forward-mode derivatives at random points.
        #[arg(long)]
        check: bool,
        /// Random points per gradient for --check.
        #[arg(long, default_value_t = 3)]
        points: usize,
        /// Seed of the random points for --check.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_parser = parse_dims)]
        dims: Option<DimSizes>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print the gradients as the rules produce them, without the e-graph simplifier.
        #[arg(long)]
        raw: bool,
        /// Report forward and backward FLOPs at the dims' sizes.
        #[arg(long)]
        cost: bool,
    },
    /// Every named tensor of the forward pass with its exact (or certified) values.
    Trace {
        file: PathBuf,
        /// JSON naming leaves (and `grad(O)`): {"X": [[1, "1/2"], ["-3/4", 2]]}.
        #[arg(long)]
        inputs: Option<PathBuf>,
        /// Seed for the random small rationals of leaves not given in --inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_parser = parse_dims)]
        dims: Option<DimSizes>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Width asked of every enclosure, in bits (raised automatically inside).
        #[arg(long, default_value_t = handtrace::exact::run::DEFAULT_TARGET_BITS, value_parser = clap::value_parser!(u32).range(8..=100_000))]
        precision: u32,
        /// Also give ∂L/∂NAME for every named tensor (`grads` in JSON).
        #[arg(long)]
        grad: bool,
    },
    /// Write a worked solution as a LaTeX document (compiles with pdflatex).
    Latex {
        file: PathBuf,
        /// Tensors to differentiate with respect to (default: every input and param).
        #[arg(long)]
        wrt: Vec<String>,
        /// Write the document here instead of to standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Parse and shape-check files; report every claim and derivation step.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Random rational points at which each claim is checked exactly.
        #[arg(long, default_value_t = 3)]
        points: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[arg(long, value_parser = parse_dims)]
        dims: Option<DimSizes>,
    },
}

/// `--dims T=2,d=3`.
#[derive(Clone, Debug)]
struct DimSizes(Vec<(String, u64)>);

fn parse_dims(text: &str) -> Result<DimSizes, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (name, size) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` should look like NAME=SIZE, e.g. T=2"))?;
            let size: u64 = size
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not a positive whole number", size.trim()))?;
            Ok((name.trim().to_string(), size))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(DimSizes)
}

/// Load a program for one command; on bad input, print the diagnostics (exit status 2).
fn load(
    file: &std::path::Path,
    dims: Option<DimSizes>,
    color: bool,
) -> Result<handtrace::ir::Program, ExitCode> {
    let options = LowerOptions {
        dim_overrides: dims.map(|d| d.0).unwrap_or_default(),
    };
    load_program(file, &options).map_err(|e| {
        eprint!("{}", e.render(color));
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match cli.command {
        Command::Show { file, dims } => {
            let options = LowerOptions {
                dim_overrides: dims.map(|d| d.0).unwrap_or_default(),
            };
            match load_program(&file, &options) {
                Ok(program) => {
                    print!("{}", render::show::show(&program));
                    let errors: Vec<String> = program
                        .claim_errors()
                        .map(|d| d.render(&program.sources, color))
                        .collect();
                    if errors.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        eprint!("{}", errors.join("\n"));
                        ExitCode::from(2)
                    }
                }
                Err(e) => {
                    eprint!("{}", e.render(color));
                    ExitCode::from(2)
                }
            }
        }
        Command::Grad {
            file,
            wrt,
            check,
            points,
            seed,
            dims,
            format,
            raw,
            cost,
        } => {
            let program = match load(&file, dims, color) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let grads = match handtrace::diff::derive(&program) {
                Ok(g) => g,
                Err(d) => {
                    eprint!("{}", d.render(&program.sources, color));
                    return ExitCode::from(2);
                }
            };
            let mut ids = Vec::new();
            for name in &wrt {
                match program.tensor_by_name(name) {
                    Some(t) if program.tensor(t).differentiable() => ids.push(t),
                    Some(_) => {
                        eprintln!("{}: error[no-gradient]: --wrt {name}: `{name}` is data or a const, it has no gradient", file.display());
                        return ExitCode::from(2);
                    }
                    None => {
                        eprintln!(
                            "{}: error[unknown-name]: --wrt {name}: no tensor is named `{name}`",
                            file.display()
                        );
                        return ExitCode::from(2);
                    }
                }
            }
            let mut simplify_report = None;
            let grads = if raw {
                grads
            } else {
                match handtrace::simplify::simplify(&program, &grads, &ids, &Default::default()) {
                    Ok(s) => {
                        simplify_report = Some(s.report);
                        s.gradients
                    }
                    Err(d) => {
                        eprint!("{}", d.render(&program.sources, color));
                        return ExitCode::from(2);
                    }
                }
            };
            let lines = render::grad::program_lines(&program, &grads, &ids);
            let extras = render::grad::Extras {
                simplify: simplify_report.as_ref(),
                cost: cost.then(|| handtrace::simplify::cost(&program, &grads, &ids)),
            };
            match format {
                Format::Json => print!("{}", render::grad::json(&program, &lines, &extras)),
                Format::Text => print!("{}", render::grad::text(&program, &lines, &extras)),
            }
            if !check {
                return ExitCode::SUCCESS;
            }
            let checked: Vec<_> = lines.iter().filter_map(|l| l.tensor).collect();
            let results = handtrace::verify::gradients::check_gradients(
                &program, &grads, &checked, points, seed,
            );
            let (report, all_verified) = render::grad::check_report(&program, &results);
            eprint!("{report}");
            let bad = !all_verified;
            if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Trace {
            file,
            inputs,
            seed,
            dims,
            format,
            precision,
            grad,
        } => {
            let program = match load(&file, dims, color) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let given = match inputs {
                None => Default::default(),
                Some(path) => {
                    let parsed = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                        .and_then(|text| handtrace::exact::inputs::parse_inputs(&program, &text));
                    match parsed {
                        Ok(g) => g,
                        Err(e) => {
                            eprintln!("{}: error[inputs]: {e}", path.display());
                            return ExitCode::from(2);
                        }
                    }
                }
            };
            let leaves = handtrace::exact::inputs::leaf_values(&program, seed, &given.leaves);
            let gradient_values = if grad {
                match handtrace::exact::run::trace_gradients(
                    &program,
                    &leaves,
                    given.upstream.clone(),
                    seed,
                    precision,
                ) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        eprintln!("{}: error[gradient]: {e}", file.display());
                        return ExitCode::from(2);
                    }
                }
            } else {
                None
            };
            match handtrace::exact::run::trace(&program, leaves, precision) {
                Ok(trace) => {
                    let grads = gradient_values.as_deref().unwrap_or(&[]);
                    match format {
                        Format::Json => print!("{}", render::trace::json(&program, &trace, grads)),
                        Format::Text => {
                            print!("{}", render::trace::text(&program, &trace, grads, seed))
                        }
                    }
                    if !trace.too_wide.is_empty() {
                        eprintln!(
                            "warning: {} tensor(s) have enclosures wider than 2^-{precision} even at {} working bits",
                            trace.too_wide.len(),
                            trace.prec.bits
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let at = e
                        .tensor
                        .map(|t| program.sources.location(program.tensor(t).span))
                        .unwrap_or_else(|| file.display().to_string());
                    eprintln!("{at}: error[evaluation]: {}", e.message(&program));
                    ExitCode::from(2)
                }
            }
        }
        Command::Latex { file, wrt, output } => {
            // Bad input gets the usual diagnostics first.
            if let Err(code) = load(&file, None, color) {
                return code;
            }
            let solution = match handtrace::solution::Solution::build(&file, &wrt) {
                Ok(s) => s,
                Err(why) => {
                    eprintln!("{}: error: {why}", file.display());
                    return ExitCode::from(2);
                }
            };
            let tex = render::latex::document(&solution);
            match output {
                None => print!("{tex}"),
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, tex) {
                        eprintln!("{}: error: cannot write: {e}", path.display());
                        return ExitCode::from(2);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::Check {
            files,
            points,
            format,
            dims,
        } => {
            let check_options = handtrace::verify::CheckOptions {
                points: points.max(1),
                ..Default::default()
            };
            let options = LowerOptions {
                dim_overrides: dims.map(|d| d.0).unwrap_or_default(),
            };
            let mut results = Vec::new();
            let mut bad_input = false;
            let mut ok_files = 0;
            for file in &files {
                match load_program(file, &options) {
                    Ok(program) => {
                        let r =
                            handtrace::verify::check_program_with(&program, file, &check_options);
                        for d in program.claim_errors() {
                            eprint!("{}", d.render(&program.sources, color));
                        }
                        bad_input |= r.iter().any(|x| x.verdict == Verdict::Error);
                        ok_files += 1;
                        results.extend(r);
                    }
                    Err(e) => {
                        eprint!("{}", e.render(color));
                        bad_input = true;
                    }
                }
            }
            match format {
                Format::Json => print!("{}", render::check::json(&results)),
                Format::Text => {
                    print!("{}", render::check::text(&results));
                    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
                    let tally: Vec<String> = [
                        Verdict::Proved,
                        Verdict::Verified,
                        Verdict::Refuted,
                        Verdict::Undecided,
                        Verdict::Error,
                    ]
                    .into_iter()
                    .filter(|v| count(*v) > 0)
                    .map(|v| format!("{} {}", count(v), v.as_str()))
                    .collect();
                    println!(
                        "{ok_files} of {} file{} checked; {} claim{} and step{}{}",
                        files.len(),
                        if files.len() == 1 { "" } else { "s" },
                        results.len(),
                        if results.len() == 1 { "" } else { "s" },
                        if results.len() == 1 { "" } else { "s" },
                        if tally.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", tally.join(", "))
                        }
                    );
                }
            }
            if bad_input {
                ExitCode::from(2)
            } else if results.iter().any(|r| !r.passes()) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
