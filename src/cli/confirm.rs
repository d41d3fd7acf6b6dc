//! The one confirmation of every destructive command.

use std::io::{self, BufRead, IsTerminal, Write};

use super::Failure;

/// When a command that destroys or ends something may go ahead without `--yes`.
pub(super) enum Consent {
    /// Ask on a terminal; off one (`kubectl exec` without `-t`, a Job, a script) there is no
    /// one to ask, and the command goes ahead.
    AskElseGo,
    /// Ask on a terminal; off one, refuse.
    AskElseRefuse,
    /// Refuse, terminal or not: only `--yes` will do. Says why, after "add --yes to confirm".
    YesOnly(&'static str),
}

/// The one confirmation of every destructive command: `Ok` to go ahead. Without `--yes`,
/// `consent` says whether to ask on a terminal or to refuse (bad usage, exit status 2); an
/// answer other than `yes` is exit status 1 and `untouched` says what was left alone.
pub(super) fn confirm(
    yes: bool,
    what: &str,
    untouched: &str,
    consent: Consent,
) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let on_terminal = io::stdin().is_terminal();
    match consent {
        Consent::YesOnly(why) => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "{what}; add --yes to confirm{why}"
            )))
        }
        Consent::AskElseRefuse if !on_terminal => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "{what}; add --yes to confirm (there is no terminal to ask on)"
            )))
        }
        Consent::AskElseGo if !on_terminal => return Ok(()),
        Consent::AskElseGo | Consent::AskElseRefuse => {}
    }
    eprint!("{what}. Type yes to continue: ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(e.into()))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Failure::Domain(anyhow::anyhow!(
            "not confirmed: {untouched}"
        )))
    }
}
