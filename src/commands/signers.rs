//! `signers add`: one allowed_signers line from a person's `.pub` file, so nobody cuts fields
//! out of a key by hand (a wrong cut is a key that silently never matches).

use crate::cli::SignersAddArgs;
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::trust::{self, AllowedSigners};

/// Appends the line for `args.principal`'s key, unless the file already allows that key for
/// that principal and namespace (then nothing changes). The file is re-read as a whole after
/// the change, so what is written is always a file `apply` and `ssh-keygen -Y verify` accept.
pub fn add(args: &SignersAddArgs, printer: &Printer) -> Result<()> {
    let key = trust::read_public_key(&args.key)?;
    let line = trust::entry_line(
        &args.principal,
        &key,
        &args.namespace,
        args.valid_before.as_deref(),
    )
    .map_err(|message| Error::Settings { message })?;
    let existing = match crate::files::exists_no_follow(&args.file)? {
        true => Some(AllowedSigners::load(&args.file)?),
        false => None,
    };
    let fingerprint = trust::fingerprint(&key);
    if let Some(signers) = &existing {
        if let Some(at) = signers.line_allowing(&args.principal, &key, &args.namespace) {
            printer.status(format_args!(
                "{}:{at} already allows {} ({fingerprint}) for {}; nothing changed",
                args.file.display(),
                args.principal,
                args.namespace
            ));
            return Ok(());
        }
    }
    let mut text = match existing {
        Some(_) => {
            String::from_utf8(std::fs::read(&args.file).map_err(|e| Error::io(&args.file, e))?)
                .map_err(|_| Error::Settings {
                    message: format!("{} is not UTF-8", args.file.display()),
                })?
        }
        None => String::new(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    AllowedSigners::parse(&args.file, &text)?;
    crate::files::write_durable(&args.file, text.as_bytes())?;
    printer.status(format_args!(
        "Added {} ({fingerprint}) to {} for {}",
        args.principal,
        args.file.display(),
        args.namespace
    ));
    printer.data(line)
}
