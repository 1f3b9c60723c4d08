//! The `handtrace` command line: argument parsing, reading files, printing, exit codes.
//!
//! Exit status: 0 all good; 1 a claim or step was refuted or undecided (or a `!=` was not
//! refuted), or a gradient failed `grad --check`; 2 bad input or usage (with a diagnostic on
//! stderr naming FILE:LINE:COLUMN). Output to a closed pipe (`| head -1`) ends the run
//! quietly with status 141, as a Unix tool killed by SIGPIPE. Long work shows a progress bar
//! on stderr when it is a terminal, and nothing otherwise.

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use handtrace::exact::num::Num;
use handtrace::exact::tensor::Tensor;
use handtrace::ir::{LowerOptions, Program, TensorId};
use handtrace::verify::Verdict;
use handtrace::{load_program, render};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "handtrace",
    version,
    about = "Derive, simplify and exactly check the gradients of transformer layers",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `check --steps`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StepsArg {
    Short,
    Full,
}

impl From<StepsArg> for render::check::Steps {
    fn from(s: StepsArg) -> render::check::Steps {
        match s {
            StepsArg::Short => render::check::Steps::Short,
            StepsArg::Full => render::check::Steps::Full,
        }
    }
}

/// Options every command that reads a file shares.
#[derive(clap::Args, Clone)]
struct Sizes {
    /// Sizes for the dims, e.g. T=2,d=3 (overrides the declared sizes; a dim defined from
    /// others, like `dim d = h*dk`, follows from them); may be repeated.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_dims)]
    dims: Vec<DimSizes>,
}

impl Sizes {
    fn options(&self) -> LowerOptions {
        LowerOptions {
            dim_overrides: self.dims.iter().flat_map(|d| d.0.clone()).collect(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve `use`, shape-check; print each statement with its shape.
    Show {
        file: PathBuf,
        #[command(flatten)]
        sizes: Sizes,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Derive the gradients: the backward pass as a program in the forward pass's names.
    Grad {
        file: PathBuf,
        /// Tensors to differentiate with respect to, e.g. Wq,Wk (default: every input and
        /// param); may be repeated.
        #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
        wrt: Vec<String>,
        /// Check each gradient exactly against forward-mode derivatives at random points.
        #[arg(long)]
        check: bool,
        /// Random points per gradient for --check.
        #[arg(long, default_value_t = 3)]
        points: usize,
        /// Seed of the first random point for --check.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        sizes: Sizes,
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
        #[command(flatten)]
        sizes: Sizes,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Width asked of every enclosure, in bits, 8 to 10000 (raised automatically inside).
        #[arg(long, default_value_t = handtrace::exact::run::DEFAULT_TARGET_BITS, value_parser = clap::value_parser!(u32).range(8..=10_000))]
        precision: u32,
        /// Also give ∂L/∂NAME for every named tensor (`grads` in JSON).
        #[arg(long)]
        grad: bool,
        /// Leaves' values from a safetensors checkpoint: a leaf reads the tensor its
        /// `from "name"` gives, else the tensor of its own name (f64/f32/f16/bf16, exactly).
        #[arg(long, value_name = "FILE.safetensors")]
        weights: Option<PathBuf>,
        /// Token ids from text, through the file's `vocab`; sets the tokens' length dim.
        #[arg(long, conflicts_with = "tokens")]
        text: Option<String>,
        /// Token ids, e.g. 3,1,4; sets the tokens' length dim.
        #[arg(long, value_delimiter = ',', value_name = "ID,...")]
        tokens: Option<Vec<usize>>,
        /// Print every tensor whole (by default a tensor of more than 64 entries is summarised).
        #[arg(long)]
        full: bool,
        /// Print these tensors whole (`dNAME` for a gradient); may be repeated.
        #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
        show: Vec<String>,
        /// Run the same graph in IEEE arithmetic op by op and report each tensor's error
        /// against the exact values, its overflows and underflows.
        #[arg(long, value_name = "f32|bf16|f16")]
        float: Option<handtrace::float::Format>,
    },
    /// Write a worked solution as a LaTeX document (compiles with pdflatex).
    Latex {
        file: PathBuf,
        /// Tensors whose gradients the result states, e.g. Wq,Wk (default: every input and
        /// param); may be repeated.
        #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
        wrt: Vec<String>,
        #[command(flatten)]
        sizes: Sizes,
        /// Seed of the numeric example's point and of the claims' first random point (the example
        /// takes the first of N, N+4, N+8, ... whose point is well conditioned).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the document here instead of to standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Parse and shape-check files; report every claim and derivation step.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Random points at which each claim is checked exactly, at each assignment of sizes
        /// (the seeds cycle through four regimes of values).
        #[arg(long, default_value_t = 4)]
        points: usize,
        /// Seed of the first random point (the points are seeds SEED, SEED+1, ...).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        sizes: Sizes,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// How much of each proof to show: `short` (what a person would write, at most 8
        /// steps) or `full` (every rewrite, every term whole).
        #[arg(long, value_enum, default_value_t = StepsArg::Short)]
        steps: StepsArg,
        /// Print each claim's verdict line only, and the summary.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Help on a command, or a topic: `help builtins` lists the built-in functions.
    Help {
        /// A command (show, grad, trace, latex, check) or `builtins`.
        topic: Option<String>,
    },
}

/// What `trace` reads besides the file.
struct TraceInputs<'a> {
    inputs: Option<&'a Path>,
    weights: Option<&'a Path>,
    text: Option<&'a str>,
    tokens: Option<&'a [usize]>,
}

/// `--dims T=2,d=3`.
#[derive(Clone, Debug)]
struct DimSizes(Vec<(String, u64)>);

fn parse_dims(text: &str) -> Result<DimSizes, String> {
    handtrace::ir::dims::parse_sizes(text).map(DimSizes)
}

/// Why a run stopped early.
enum Stop {
    /// Standard output was closed by its reader.
    BrokenPipe,
    /// Bad input or usage, already reported on stderr.
    BadInput,
}

type Run = Result<ExitCode, Stop>;

/// Print to standard output; a closed pipe stops the run quietly.
fn out(text: &str) -> Result<(), Stop> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::BrokenPipe),
        _ => Ok(()),
    }
}

/// A progress bar on stderr when it is a terminal (hidden otherwise), cleared when done.
fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || std::env::var_os("HANDTRACE_NO_PROGRESS").is_some() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(what.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A spinner for work with no count (a trace, a document).
fn spinner(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || std::env::var_os("HANDTRACE_NO_PROGRESS").is_some() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Load a program; on bad input print its diagnostics.
fn load(file: &Path, sizes: &Sizes) -> Result<Program, Stop> {
    load_program(file, &sizes.options()).map_err(|e| {
        eprint!("{}", e.render(color()));
        Stop::BadInput
    })
}

/// The tensors of `--wrt`.
fn wrt(program: &Program, file: &Path, names: &[String]) -> Result<Vec<TensorId>, Stop> {
    program.resolve_wrt(names).map_err(|e| {
        let code = match e {
            handtrace::ir::WrtError::Unknown(_) => "unknown-name",
            handtrace::ir::WrtError::NoGradient(_) => "no-gradient",
        };
        eprintln!("{}: error[{code}]: {e}", file.display());
        Stop::BadInput
    })
}

/// A note for a command that differentiates a file with no `output` or `loss`.
fn no_target_note(file: &Path, what: &str) {
    eprintln!(
        "{}: note: the file declares no `output` and no `loss`, so {what}; add `output NAME` or `loss NAME = EXPR` to differentiate it",
        file.display()
    );
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
    // The work runs on a thread with a large stack: big-integer division in the libraries
    // below recurses, and at tens of thousands of bits (`--precision 100000`) the main
    // thread's stack is too small. Only the pages touched are committed.
    let worker = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || run(cli.command));
    let result = match worker.map(|w| w.join()) {
        Ok(Ok(result)) => result,
        _ => {
            eprintln!("error: internal: the worker thread stopped");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(Stop::BrokenPipe) => ExitCode::from(141),
        Err(Stop::BadInput) => ExitCode::from(2),
    }
}

/// Run one command.
fn run(command: Command) -> Run {
    match command {
        Command::Show {
            file,
            sizes,
            format,
        } => show(&file, &sizes, format),
        Command::Grad {
            file,
            wrt,
            check,
            points,
            seed,
            sizes,
            format,
            raw,
            cost,
        } => grad(&file, &wrt, check, points, seed, &sizes, format, raw, cost),
        Command::Trace {
            file,
            inputs,
            seed,
            sizes,
            format,
            precision,
            grad,
            weights,
            text,
            tokens,
            full,
            show,
            float,
        } => trace(
            &file,
            &TraceInputs {
                inputs: inputs.as_deref(),
                weights: weights.as_deref(),
                text: text.as_deref(),
                tokens: tokens.as_deref(),
            },
            seed,
            &sizes,
            format,
            precision,
            grad,
            &render::trace::Shown {
                all: full,
                names: show,
            },
            float,
        ),
        Command::Latex {
            file,
            wrt,
            sizes,
            seed,
            output,
        } => latex(&file, &wrt, &sizes, seed, output.as_deref()),
        Command::Check {
            files,
            points,
            seed,
            sizes,
            format,
            steps,
            quiet,
        } => {
            let view = if quiet {
                render::check::View::Quiet
            } else {
                render::check::View::Detail(steps.into())
            };
            check(&files, points, seed, &sizes, format, view)
        }
        Command::Help { topic } => help(topic.as_deref()),
    }
}

fn help(topic: Option<&str>) -> Run {
    let mut command = Cli::command();
    // Built, so a subcommand's usage line reads `handtrace check ...`.
    command.build();
    match topic {
        None => out(&command.render_long_help().to_string())?,
        Some("builtins" | "functions") => out(&render::help::builtins_text())?,
        Some(name) => match command.find_subcommand_mut(name) {
            Some(sub) => out(&sub.render_long_help().to_string())?,
            None => {
                eprintln!(
                    "error: no help on `{name}`; try `handtrace help builtins` or one of: show, grad, trace, latex, check"
                );
                return Err(Stop::BadInput);
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn show(file: &Path, sizes: &Sizes, format: Format) -> Run {
    let program = load(file, sizes)?;
    match format {
        Format::Text => out(&render::show::show(&program))?,
        Format::Json => out(&render::show::json(&program))?,
    }
    let errors: Vec<String> = program
        .claim_errors()
        .map(|d| d.render(&program.sources, color()))
        .collect();
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprint!("{}", errors.join("\n"));
        Ok(ExitCode::from(2))
    }
}

#[allow(clippy::too_many_arguments)]
fn grad(
    file: &Path,
    wrt_names: &[String],
    check: bool,
    points: usize,
    seed: u64,
    sizes: &Sizes,
    format: Format,
    raw: bool,
    cost: bool,
) -> Run {
    let program = load(file, sizes)?;
    let grads = handtrace::diff::derive(&program).map_err(|d| {
        eprint!("{}", d.render(&program.sources, color()));
        Stop::BadInput
    })?;
    let ids = wrt(&program, file, wrt_names)?;
    let mut simplify_report = None;
    let grads = if raw {
        grads
    } else {
        let bar = spinner("simplifying");
        let simplified = handtrace::simplify::simplify(&program, &grads, &ids, &Default::default());
        bar.finish_and_clear();
        match simplified {
            Ok(s) => {
                simplify_report = Some(s.report);
                s.gradients
            }
            Err(d) => {
                eprint!("{}", d.render(&program.sources, color()));
                return Err(Stop::BadInput);
            }
        }
    };
    let lines = render::grad::program_lines(&program, &grads, &ids);
    let mut extras = render::grad::Extras {
        simplify: simplify_report.as_ref(),
        cost: cost.then(|| handtrace::simplify::cost(&program, &grads, &ids)),
        check: None,
    };
    if format == Format::Text {
        out(&render::grad::text(&program, &lines, &extras))?;
    }
    if !check {
        if format == Format::Json {
            out(&render::grad::json(&program, &lines, &extras))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Text prints each result as it comes; JSON gathers them into the document.
    let checked: Vec<TensorId> = lines.iter().filter_map(|l| l.tensor).collect();
    let bar = progress(checked.len() as u64, "checking gradients");
    let shown = file.display().to_string();
    let mut all_verified = true;
    let mut stopped = None;
    let mut results = Vec::new();
    handtrace::verify::gradients::check_gradients_each(
        &program,
        &grads,
        &checked,
        points,
        seed,
        &mut |r| {
            all_verified &= matches!(
                r.outcome,
                handtrace::verify::gradients::Outcome::Verified { .. }
            );
            bar.inc(1);
            if format == Format::Text && stopped.is_none() {
                let line = render::grad::check_line(&program, &shown, &r);
                if let Err(stop) = bar.suspend(|| out(&line)) {
                    stopped = Some(stop);
                }
            }
            results.push(r);
        },
    );
    bar.finish_and_clear();
    if let Some(stop) = stopped {
        return Err(stop);
    }
    if format == Format::Json {
        extras.check = Some((&results, &shown));
        out(&render::grad::json(&program, &lines, &extras))?;
    }
    Ok(if all_verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Leaves' values from the token ids and the checkpoint, each with where it came from.
type RealLeaves = HashMap<TensorId, (Tensor<Num>, String)>;

/// The program at the length the token ids give, and the leaves they and the checkpoint
/// fill; notes about the checkpoint on stderr.
fn real_data(
    file: &Path,
    program: Program,
    sources: &TraceInputs,
    sizes: &Sizes,
) -> Result<(Program, RealLeaves), Stop> {
    use handtrace::exact::bind::{self, TokenSource};
    let fail = |at: String, e: &dyn std::fmt::Display| {
        eprintln!("{at}: error[inputs]: {e}");
        Stop::BadInput
    };
    let here = file.display().to_string();
    let mut program = program;
    let mut leaves = HashMap::new();
    let source = match (sources.text, sources.tokens) {
        (Some(t), _) => Some(TokenSource::Text(t)),
        (None, Some(ids)) => Some(TokenSource::Ids(ids)),
        (None, None) => None,
    };
    if let Some(source) = source {
        let fixed = sizes.options().dim_overrides;
        let map = program.sources.clone();
        let (fitted, values) = match bind::fit_tokens(program, source, &fixed) {
            Ok(fit) => fit,
            Err(bind::BindError::Resize(diags)) => {
                for d in diags {
                    eprint!("{}", d.render(&map, color()));
                }
                return Err(Stop::BadInput);
            }
            Err(e) => return Err(fail(here.clone(), &e)),
        };
        program = fitted;
        let flag = if sources.text.is_some() {
            "--text"
        } else {
            "--tokens"
        };
        leaves.extend(values.into_iter().map(|(t, v)| (t, (v, flag.to_string()))));
    }
    if let Some(path) = sources.weights {
        let at = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| fail(at.clone(), &format!("cannot read it: {e}")))?;
        let checkpoint = handtrace::exact::weights::Checkpoint::parse(bytes)
            .map_err(|e| fail(at.clone(), &e))?;
        let bound = bind::checkpoint_values(&program, &checkpoint).map_err(|e| match &e {
            bind::BindError::Missing { span, .. } => fail(program.sources.location(*span), &e),
            _ => fail(at.clone(), &e),
        })?;
        if !bound.unused.is_empty() {
            eprintln!(
                "{at}: note: {} checkpoint tensor(s) that no declaration reads: {}",
                bound.unused.len(),
                bound.unused.join(", ")
            );
        }
        if !bound.absent.is_empty() {
            let names: Vec<&str> = bound
                .absent
                .iter()
                .map(|&t| program.tensor(t).name.as_str())
                .collect();
            eprintln!(
                "{at}: note: not in the checkpoint, so random: {}",
                names.join(", ")
            );
        }
        let origin = path
            .file_name()
            .map_or(at.clone(), |n| n.to_string_lossy().into_owned());
        leaves.extend(
            bound
                .leaves
                .into_iter()
                .map(|(t, v)| (t, (v, origin.clone()))),
        );
    }
    Ok((program, leaves))
}

#[allow(clippy::too_many_arguments)]
fn trace(
    file: &Path,
    sources: &TraceInputs,
    seed: u64,
    sizes: &Sizes,
    format: Format,
    precision: u32,
    grad: bool,
    shown: &render::trace::Shown,
    float: Option<handtrace::float::Format>,
) -> Run {
    let program = load(file, sizes)?;
    let (program, real) = real_data(file, program, sources, sizes)?;
    let inputs = sources.inputs;
    let mut given = match inputs {
        None => Default::default(),
        Some(path) => {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    handtrace::exact::inputs::parse_inputs(&program, &text)
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("{}: error[inputs]: {e}", path.display());
                    return Err(Stop::BadInput);
                }
            }
        }
    };
    if grad {
        if let Err(d) = handtrace::diff::derive(&program) {
            eprint!("{}", d.render(&program.sources, color()));
            return Err(Stop::BadInput);
        }
    }
    if let Err(e) = handtrace::exact::run::check_budget(&program, &program.graph) {
        let at = e
            .tensor
            .map(|t| program.sources.location(program.tensor(t).span))
            .unwrap_or_else(|| file.display().to_string());
        eprintln!("{at}: error[too-large]: {}", e.message(&program));
        return Err(Stop::BadInput);
    }
    let bar = spinner("tracing");
    let mut origins: Vec<(TensorId, String)> = given
        .leaves
        .keys()
        .map(|&t| (t, "--inputs".to_string()))
        .collect();
    for (t, (v, origin)) in real {
        if let std::collections::hash_map::Entry::Vacant(e) = given.leaves.entry(t) {
            origins.push((t, origin));
            e.insert(v);
        }
    }
    origins.sort();
    let leaves = handtrace::exact::inputs::leaf_values(&program, seed, &given.leaves);
    let floated = float.map(|f| (f, handtrace::float::trace(&program, &leaves, f)));
    // With gradients, one evaluation gives both passes; a failure is reported by the
    // forward pass alone when it is the forward pass that fails.
    let (traced, gradient_values) = if grad {
        match handtrace::exact::run::trace_with_gradients(
            &program,
            leaves.clone(),
            given.upstream.clone(),
            seed,
            precision,
        ) {
            Ok((trace, g)) => (Ok(trace), Some(g)),
            Err(e) => match handtrace::exact::run::trace(&program, leaves, precision) {
                Err(forward) => (Err(forward), None),
                Ok(_) => {
                    bar.finish_and_clear();
                    eprintln!(
                        "{}: error[gradient]: {}",
                        file.display(),
                        e.message(&program)
                    );
                    return Err(Stop::BadInput);
                }
            },
        }
    } else {
        (
            handtrace::exact::run::trace(&program, leaves, precision),
            None,
        )
    };
    bar.finish_and_clear();
    match traced {
        Ok(trace) => {
            let grads = gradient_values.as_deref().unwrap_or(&[]);
            let report = match floated {
                None => None,
                Some((f, Ok(values))) => Some(handtrace::float::compare(
                    &program,
                    &trace.values,
                    &values,
                    f,
                )),
                Some((_, Err(e))) => {
                    eprintln!("{}: error[float]: {}", file.display(), e.message(&program));
                    return Err(Stop::BadInput);
                }
            };
            match (format, &report) {
                (Format::Json, None) => out(&render::trace::json(&program, &trace, grads))?,
                (Format::Json, Some(r)) => {
                    let mut doc: serde_json::Value =
                        serde_json::from_str(&render::trace::json(&program, &trace, grads))
                            .expect("the trace's own JSON");
                    doc["float"] = render::float::json(&program, r);
                    out(&(serde_json::to_string_pretty(&doc).expect("serialises") + "\n"))?
                }
                (Format::Text, Some(r)) => out(&render::float::text(&program, r))?,
                (Format::Text, None) => out(&render::trace::text(
                    &program, &trace, grads, seed, &origins, shown,
                ))?,
            }
            if !trace.too_wide.is_empty() {
                eprintln!(
                    "warning: {} tensor(s) have enclosures wider than 2^-{precision} even at {} working bits",
                    trace.too_wide.len(),
                    trace.prec.bits
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let at = e
                .tensor
                .map(|t| program.sources.location(program.tensor(t).span))
                .unwrap_or_else(|| file.display().to_string());
            eprintln!("{at}: error[evaluation]: {}", e.message(&program));
            Err(Stop::BadInput)
        }
    }
}

fn latex(
    file: &Path,
    wrt_names: &[String],
    sizes: &Sizes,
    seed: u64,
    output: Option<&Path>,
) -> Run {
    // The file is read once; the tiny numeric example lowers it again at other sizes.
    let loaded = handtrace::read_program(file).map_err(|e| {
        eprint!("{}", e.render(color()));
        Stop::BadInput
    })?;
    let program = handtrace::lower_program(&loaded, &sizes.options()).map_err(|e| {
        eprint!("{}", e.render(color()));
        Stop::BadInput
    })?;
    let ids = wrt(&program, file, wrt_names)?;
    if program.target.is_none() {
        no_target_note(
            file,
            "the document has the forward pass and the claims but no backward pass",
        );
    }
    let bar = spinner("writing the worked solution");
    let options = handtrace::verify::CheckOptions {
        seed,
        ..Default::default()
    };
    let shown = file.display().to_string();
    let solution = handtrace::solution::Solution::build(&loaded, program, &shown, &ids, &options);
    bar.finish_and_clear();
    let solution = match solution {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: error: {}", file.display(), e.diagnostic().message);
            return Err(Stop::BadInput);
        }
    };
    let command = render::latex_command(&solution.program, &shown, wrt_names, seed);
    let tex = render::latex::document(&solution, &command);
    match output {
        None => out(&tex)?,
        Some(path) => {
            if let Err(e) = std::fs::write(path, tex) {
                eprintln!("{}: error: cannot write: {e}", path.display());
                return Err(Stop::BadInput);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(
    files: &[PathBuf],
    points: usize,
    seed: u64,
    sizes: &Sizes,
    format: Format,
    view: render::check::View,
) -> Run {
    // JSON always carries what a result rests on (`detail`), at the steps asked for.
    let proof_steps = match view {
        render::check::View::Detail(steps) => steps,
        render::check::View::Quiet => render::check::Steps::Short,
    };
    let options = handtrace::verify::CheckOptions {
        points: points.max(1),
        seed,
        ..Default::default()
    };
    let mut verdicts = Vec::new();
    let mut json = Vec::new();
    let mut bad_input = false;
    let mut failed = false;
    let mut ok_files = 0;
    for file in files {
        let program = match load(file, sizes) {
            Ok(p) => p,
            Err(_) => {
                bad_input = true;
                continue;
            }
        };
        for d in program.claim_errors() {
            eprint!("{}", d.render(&program.sources, color()));
        }
        let steps: usize = program
            .derivations
            .iter()
            .map(|d| d.steps.len().saturating_sub(1))
            .sum();
        let bar = progress(
            (program.claims.len() + steps) as u64,
            &format!("checking {}", file.display()),
        );
        let mut results = Vec::new();
        let mut stopped = None;
        handtrace::verify::check_each(&program, file, &options, &mut |r| {
            bar.inc(1);
            // Text streams in the order checked; the file's order is restored below for JSON.
            if format == Format::Text && stopped.is_none() {
                if let Err(stop) =
                    bar.suspend(|| out(&render::check::result_text(&program, &r, view)))
                {
                    stopped = Some(stop);
                }
            }
            results.push(r);
        });
        bar.finish_and_clear();
        if let Some(stop) = stopped {
            return Err(stop);
        }
        results.sort_by_key(|r| (r.line, r.step));
        bad_input |= results.iter().any(|r| r.verdict == Verdict::Error);
        failed |= results.iter().any(|r| !r.passes());
        verdicts.extend(results.iter().map(render::check::tally_of));
        if format == Format::Json {
            json.extend(
                results
                    .iter()
                    .map(|r| render::check::result_json(&program, r, proof_steps)),
            );
        }
        ok_files += 1;
    }
    match format {
        Format::Json => out(&render::check::json(json))?,
        Format::Text => out(&render::check::summary(files.len(), ok_files, &verdicts))?,
    }
    Ok(if bad_input {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
