"""Command line: parse arguments, call one back-end function, print. No logic lives here.

Two back ends with one interface: remote (the server's API, when [server] url or
SANDBOX_SERVER names one; standard library only) and local (the service layer, for
operators on the server's host). Heavy modules (SQLAlchemy, boto3, Google clients) load
inside the local commands, so `sandbox --help` and remote commands stay fast.
"""

from __future__ import annotations

import gc
import os
import sys

# Started as the `sandbox` command (not imported by a test or another program): no cyclic
# garbage collection while the interpreter imports, until main() knows the command. A
# quick read allocates almost nothing but its imports (click, SQLAlchemy, SQLModel, the
# models), whose objects the collector would walk over again and again: about 5% of
# `sandbox list` (bench/cli_latency.py). main() turns it back on for every other command.
_GC_PAUSED = os.path.basename(sys.argv[0]).removesuffix(".exe") == "sandbox" and gc.isenabled()
if _GC_PAUSED:
    gc.disable()

import click  # noqa: E402

from sandbox.output import emit, one_line

OUTPUT = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
                      show_default=True, help="Table for people, JSON for scripts.")


class Context:
    """Built lazily: a command that needs no database never opens one."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._settings = None
        self._app = None

    @property
    def settings(self):
        if self._settings is None:
            from sandbox.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def app(self):
        if self._app is None:
            from sandbox.service import build_app

            self._app = build_app(self.settings)
        return self._app

    @property
    def identity(self):
        from sandbox.config import current_identity

        return current_identity(self.settings)

    @property
    def server_url(self) -> str:
        return (os.environ.get("SANDBOX_SERVER") or self.settings.server.url).strip().rstrip("/")

    @property
    def backend(self):
        if self.server_url:
            from sandbox.client.remote import RemoteBackend

            return RemoteBackend(self.server_url, self.bearer)
        from sandbox.client.local import LocalBackend

        return LocalBackend(self)

    def bearer(self) -> str:
        """A personal API token from SANDBOX_TOKEN, else the cached login (refreshed)."""
        from sandbox.client.session import current_token

        return os.environ.get("SANDBOX_TOKEN", "").strip() or current_token(self.server_url)

    def require_local(self, command: str) -> None:
        """Operator commands run on the server's host only, where the database and keys are."""
        from sandbox.errors import UsageError

        if self.server_url:
            raise UsageError(f"sandbox {command} is an operator command for the server's host; there, run it "
                             "without [server] url / SANDBOX_SERVER")

    def require_operator(self, command: str) -> None:
        from sandbox.errors import PermissionDeniedError

        self.require_local(command)
        if not self.identity.is_admin:
            raise PermissionDeniedError(f"sandbox {command} is for admins ([admin] users) on the server's host")


pass_ctx = click.make_pass_decorator(Context)


class OneLineUsageError(click.UsageError):
    """click's usage errors (unknown option, missing argument) as one line, like ours."""

    def __init__(self, exc: click.UsageError):
        super().__init__(exc.format_message(), exc.ctx)
        self.exit_code = exc.exit_code  # type: ignore[misc]  # click types it a ClassVar, yet reads it per instance

    def show(self, file=None) -> None:
        hint = f" (see: {self.ctx.command_path} --help)" if self.ctx is not None else ""
        click.echo(f"error: {one_line(self.format_message())}{hint}", err=True)


class SandboxGroup(click.Group):
    """Turns every domain error into one line on stderr and a non-zero exit."""

    def make_context(self, info_name, args, parent=None, **extra):
        # Bytes that are not UTF-8 reach Python as lone surrogates, which no database,
        # file or terminal write accepts: refuse them here, once.
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                raise OneLineUsageError(click.UsageError(f"argument {arg!r} is not UTF-8 text")) from None
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:  # `sandbox admin` alone: the group's help
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place errors become messages
            from sandbox.errors import SandboxError

            if os.environ.get("SANDBOX_DEBUG"):
                raise
            if isinstance(exc, SandboxError):
                click.echo(f"error: {one_line(exc)}", err=True)
                sys.exit(exc.exit_code)
            first = str(exc).splitlines()[0] if str(exc).strip() else ""
            click.echo(f"internal error: {type(exc).__name__}: {one_line(first)}"
                       " (set SANDBOX_DEBUG=1 for a traceback)", err=True)
            sys.exit(70)


# The rule of sandbox.errors, for people; README.md says the same.
EXIT_CODES = """\b
Exit codes, the same in local and remote mode:
  0   done
  1   refused or failed: a quota, the sandbox's state, a cloud error (may work later)
  2   bad input or configuration: an unknown template, id or option value, an
      ambiguous id prefix; a database that does not exist, is not upgraded, was
      migrated by a newer version or is unreachable; a server that does not
      answer; no secrets key
  3   not allowed, or not signed in
  70  internal error (SANDBOX_DEBUG=1 shows its traceback)"""


@click.group(cls=SandboxGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.option("--config", "config_path", metavar="PATH",
              help="Config file (default: $SANDBOX_CONFIG, else ./sandbox.toml, else built-in defaults).")
@click.version_option("0.1.0", prog_name="sandbox")
@click.pass_context
def main(ctx, config_path):
    """Sandbox Cloud: temporary AWS accounts and GCP projects that always end."""
    import logging

    # Garbage collection stays off for a quick read (its few cycles die with the process;
    # in-process, as under CliRunner, it is back on when the command returns) and is on for
    # every other command: the daemon, the server, provisioning, reports.
    if ctx.invoked_subcommand not in QUICK_READS:
        if _GC_PAUSED:
            gc.enable()
    elif gc.isenabled():
        gc.disable()
        ctx.call_on_close(gc.enable)

    # A command's errors are its one line on stderr; the log records behind them (which
    # Python would print for want of a handler) are for the daemon's and server's logs.
    logging.getLogger("sandbox").addHandler(logging.NullHandler())
    ctx.obj = Context(config_path)


# Read-only commands that print and exit: no garbage collection while they run (see main).
QUICK_READS = frozenset({"list", "show", "events", "credentials", "whoami"})


# ---- output helpers -----------------------------------------------------------------

SANDBOX_COLUMNS = ("id", "name", "provider", "template", "owner", "state", "cloud_id", "expires_at")
WIDE = click.option("--wide", is_flag=True, help="In a terminal, show every value in full (rows may be wider "
                                                 "than the terminal).")


def progress_printer(output: str, header: str | None = None):
    """Step messages on stderr, so --output json stays parseable. The header waits for the
    first step, so a request refused before provisioning starts is still one line."""
    pending = [header] if header else []

    def show(message: str) -> None:
        while pending:
            click.echo(pending.pop(), err=True)
        click.echo(f"  … {message}", err=True)
    return show


# ---- engineer commands ---------------------------------------------------------------

@main.command()
@click.argument("template")
@click.option("--ttl", help="Lifetime: 90m (m is minutes), 12h, 7d, 2w; no months, say 30d (default: the "
                             "template's; at least its min_ttl, 1h unless it says).")
@click.option("--member", "members", multiple=True, metavar="EMAIL", help="Add a member (group templates).")
@click.option("--name", help="Name it NAME-<id> instead of <your handle>-<id>, e.g. load-test.")
@click.option("--wait", is_flag=True, help="Provision now and wait until it is active.")
@OUTPUT
@pass_ctx
def request(ctx, template, ttl, members, name, wait, output):
    """Ask for a sandbox from TEMPLATE (see: sandbox templates list)."""
    header = f"provisioning {'an' if template[:1].lower() in 'aeiou' else 'a'} {template} sandbox..." if wait else None
    view = ctx.backend.request(template, ttl=ttl, members=list(members), name=name, wait=wait,
                               progress=progress_printer(output, header))
    emit(view, output)
    if output == "table" and view["state"] == "requested":
        hint = ("an admin must approve it: sandbox admin approve " + view["id"]) if view["approval_required"] \
            else "the daemon will provision it; add --wait to provision now"
        click.echo(f"queued: {hint}", err=True)


@main.command(name="list")
@click.option("--all", "everything", is_flag=True, help="Include ended sandboxes (admins: every user's).")
@click.option("--state", help="Only sandboxes in this state.")
@WIDE
@OUTPUT
@pass_ctx
def list_(ctx, everything, state, wide, output):
    """Your sandboxes."""
    emit(ctx.backend.list(everything=everything, state=state), output, SANDBOX_COLUMNS, wide=wide,
         empty="no sandboxes" if everything or state else "no live sandboxes (--all shows ended ones too)")


@main.command()
@click.argument("sandbox_id")
@OUTPUT
@pass_ctx
def show(ctx, sandbox_id, output):
    """One sandbox in full (ID or a unique prefix)."""
    emit(ctx.backend.show(sandbox_id), output)


@main.command()
@click.argument("sandbox_id")
@WIDE
@OUTPUT
@pass_ctx
def events(ctx, sandbox_id, wide, output):
    """The audit trail of one sandbox."""
    emit(ctx.backend.events(sandbox_id), output,
         ("at", "actor", "action", "from_state", "to_state", "detail"), wide=wide)


@main.command()
@click.argument("sandbox_id")
@click.option("--member", metavar="EMAIL", help="Admins: another member's credentials.")
@OUTPUT
@pass_ctx
def credentials(ctx, sandbox_id, member, output):
    """How to sign in: console URL, user name, password (owner, members, admins)."""
    emit(ctx.backend.credentials(sandbox_id, member), output)


@main.command()
@click.argument("sandbox_id")
@click.option("--by", required=True, help="How much longer, e.g. 3d.")
@OUTPUT
@pass_ctx
def extend(ctx, sandbox_id, by, output):
    """Push a sandbox's expiry out (unfreezes it during its grace period)."""
    emit(ctx.backend.extend(sandbox_id, by), output)


@main.command()
@click.argument("sandbox_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT
@pass_ctx
def destroy(ctx, sandbox_id, yes, output):
    """Delete a sandbox: access removed, account closed / project deleted.

    A request (waiting for approval or not) or a sandbox still provisioning is cancelled:
    what exists in the cloud is torn down and the quota freed."""
    from sandbox.errors import UsageError

    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"destroy needs --yes when not run from a terminal: sandbox destroy {sandbox_id} --yes")
        click.confirm(f"Destroy sandbox {sandbox_id} and everything in it?", abort=True)
    view = ctx.backend.destroy(sandbox_id)
    emit(view, output)
    if output == "table" and view["state"] == "deleting" and not view.get("note"):
        click.echo("queued for closure: the daemon retries it", err=True)


# ---- admin ---------------------------------------------------------------------------

@main.group()
def admin():
    """Admin commands (users listed in [admin] users)."""


@admin.command(name="bootstrap")
@click.option("--provider", "providers", multiple=True, metavar="CLOUD",
              help="Only this cloud (default: every enabled one).")
@pass_ctx
def admin_bootstrap(ctx, providers):
    """Create the OUs and folders the config names (idempotent)."""
    from sandbox.service import bootstrap

    ctx.require_local("admin bootstrap")
    for provider, lines in bootstrap(ctx.app, ctx.identity, list(providers) or None).items():
        for line in lines:
            click.echo(f"{provider}: {line}")


@admin.command(name="approve")
@click.argument("sandbox_id")
@click.option("--reason", default="", help="Recorded in the sandbox's audit trail.")
@OUTPUT
@pass_ctx
def admin_approve(ctx, sandbox_id, reason, output):
    """Approve a request whose template needs approval."""
    emit(ctx.backend.approve(sandbox_id, reason), output)


@admin.command(name="deny")
@click.argument("sandbox_id")
@click.option("--reason", default="", help="Told to the requester.")
@OUTPUT
@pass_ctx
def admin_deny(ctx, sandbox_id, reason, output):
    """Deny a pending request."""
    emit(ctx.backend.deny(sandbox_id, reason), output)


@admin.command(name="budget")
@click.argument("sandbox_id")
@click.option("--to", "to", required=True, metavar="USD", help="The new budget in USD, e.g. 300.")
@OUTPUT
@pass_ctx
def admin_budget(ctx, sandbox_id, to, output):
    """Set a sandbox's budget (audited); a sandbox frozen for budget and now under it is unfrozen.

    Thresholds above the spend at the new budget notify (and freeze) again."""
    emit(ctx.backend.set_budget(sandbox_id, to), output)


@admin.command(name="retry")
@click.argument("sandbox_id")
@click.option("--wait", is_flag=True, help="Provision now instead of leaving it to the daemon.")
@OUTPUT
@pass_ctx
def admin_retry(ctx, sandbox_id, wait, output):
    """Put a failed sandbox back in the provisioning queue."""
    emit(ctx.backend.retry(sandbox_id, wait=wait, progress=progress_printer(output)), output)


@admin.command(name="generate-key")
def admin_generate_key():
    """Print a new encryption key for [secrets] key or SANDBOX_SECRET_KEY."""
    from sandbox.secrets import generate_key

    click.echo(generate_key())


@admin.command(name="rotate-key")
@click.option("--new-key-file", metavar="PATH", help="File holding the new key (else env SANDBOX_NEW_SECRET_KEY).")
@pass_ctx
def admin_rotate_key(ctx, new_key_file):
    """Re-encrypt every stored secret with a new key, then switch [secrets] key to it."""
    from sandbox.service import rotate_key

    ctx.require_local("admin rotate-key")
    done = rotate_key(ctx.app, ctx.identity, new_key_file=new_key_file)
    click.echo(f"re-encrypted {done['rows']} secrets of {done['sandboxes']} sandboxes with the new key; "
               "now set SANDBOX_SECRET_KEY (or [secrets] key / key_file) to it")


@admin.group(name="pool")
def admin_pool():
    """The account pool ([aws.pool]): accounts cleaned and leased again instead of closed."""


POOL_COLUMNS = ("provider", "cloud_id", "state", "sandbox_id", "passes", "failures", "leases", "ready_at", "reason")


@admin_pool.command(name="list")
@click.option("--state", help="Only accounts in this state (ready, leased, cleaning, quarantined, ...).")
@OUTPUT
@pass_ctx
def admin_pool_list(ctx, state, output):
    """Every pool account and where it is in its cycle."""
    from sandbox.service.pool import list_pool

    ctx.require_local("admin pool list")
    emit(list_pool(ctx.app, ctx.identity, state), output, POOL_COLUMNS)


@admin_pool.command(name="status")
@OUTPUT
@pass_ctx
def admin_pool_status(ctx, output):
    """Accounts per state, the oldest ready one, the quarantined ones and why."""
    from sandbox.service.pool import pool_status

    ctx.require_local("admin pool status")
    emit(pool_status(ctx.app, ctx.identity), output)


@admin_pool.command(name="clean")
@click.argument("account_id")
@click.option("--dry-run", is_flag=True, help="Only list what a pass would delete.")
@OUTPUT
@pass_ctx
def admin_pool_clean(ctx, account_id, dry_run, output):
    """Clean a cleaning account now (its passes), or with --dry-run list what would go."""
    from sandbox.service.pool import clean_now

    ctx.require_local("admin pool clean")
    emit(clean_now(ctx.app, ctx.identity, account_id, dry_run=dry_run), output)


@admin_pool.command(name="register")
@click.argument("account_id")
@click.option("--provider", default="aws", show_default=True, help="The cloud whose pool adopts it.")
@OUTPUT
@pass_ctx
def admin_pool_register(ctx, account_id, provider, output):
    """Adopt an existing member account into the pool; it is cleaned before its first lease."""
    from sandbox.service.pool import register_account

    ctx.require_local("admin pool register")
    emit(register_account(ctx.app, ctx.identity, provider, account_id), output)


@admin_pool.command(name="quarantine")
@click.argument("account_id")
@click.option("--reason", default="", help="Why, for the status and the compliance report.")
@OUTPUT
@pass_ctx
def admin_pool_quarantine(ctx, account_id, reason, output):
    """Take an account out of the cycle (locked down until released)."""
    from sandbox.service.pool import quarantine_now

    ctx.require_local("admin pool quarantine")
    emit(quarantine_now(ctx.app, ctx.identity, account_id, reason), output)


@admin_pool.command(name="release")
@click.argument("account_id")
@OUTPUT
@pass_ctx
def admin_pool_release(ctx, account_id, output):
    """A quarantined account back to cleaning."""
    from sandbox.service.pool import release_account

    ctx.require_local("admin pool release")
    emit(release_account(ctx.app, ctx.identity, account_id), output)


@admin_pool.command(name="retire")
@click.argument("account_id")
@OUTPUT
@pass_ctx
def admin_pool_retire(ctx, account_id, output):
    """Close a pool account on purpose (within AWS's CloseAccount quota)."""
    from sandbox.service.pool import retire_account

    ctx.require_local("admin pool retire")
    emit(retire_account(ctx.app, ctx.identity, account_id), output)


# ---- templates -----------------------------------------------------------------------

@main.group()
def templates():
    """Sandbox templates."""


@templates.command(name="list")
@WIDE
@OUTPUT
@pass_ctx
def templates_list(ctx, wide, output):
    """Every template with its provider and limits: TTL (default and max), budget in USD,
    whether it needs approval. --output json adds min_ttl, max_extensions and max_live (0: no limit)."""
    emit(ctx.backend.templates(), output, ("name", "provider", "kind", "default_ttl", "max_ttl", "budget_usd",
                                           "approval_required", "description"), wide=wide, keep=("name",))


@templates.command(name="show")
@click.argument("name")
@OUTPUT
@pass_ctx
def templates_show(ctx, name, output):
    """One template in full."""
    emit(ctx.backend.template(name), output)


@templates.command(name="validate")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@pass_ctx
def templates_validate(ctx, files):
    """Check template files (default: every known template)."""
    from pathlib import Path

    from sandbox.templates import list_templates, load_template_file

    checked = [load_template_file(Path(f)) for f in files] if files else list_templates(ctx.settings.template_dirs())
    for template in checked:
        click.echo(f"ok: {template.path} ({template.provider}, {template.kind})")


# ---- setting up ----------------------------------------------------------------------

@main.command()
@click.option("--email", metavar="EMAIL", help="Who you are (default: asked; SANDBOX_USER when --yes).")
@click.option("--department", metavar="NAME", help="Your department (default: asked; 'default' when --yes).")
@click.option("--path", metavar="FILE",
              help="Where to write it (default: --config, $SANDBOX_CONFIG, else ./sandbox.toml).")
@click.option("--key-file", metavar="FILE", help="The secrets key file (default: sandbox.key beside the config; "
                                                 "an existing one is kept).")
@click.option("--cloud", "clouds", multiple=True, metavar="NAME", help="Only this cloud (repeatable; default: all).")
@click.option("--yes", is_flag=True, help="Ask nothing: take the flags and the defaults.")
@pass_ctx
def init(ctx, email, department, path, key_file, clouds, yes):
    """Write a commented starter sandbox.toml and a secrets key file (mode 0600) for local
    mode; never overwrites a config."""
    from pathlib import Path

    from sandbox.errors import UsageError
    from sandbox.starter import check_department, write_starter

    from sandbox.naming import check_email

    def checked(check):  # a bad answer is asked again
        def proc(value):
            try:
                return check(value)
            except UsageError as exc:
                raise click.BadParameter(str(exc)) from None
        return proc

    ask = not yes and sys.stdin.isatty()
    if email is None:
        if ask:
            email = click.prompt("Your e-mail address", default=os.environ.get("SANDBOX_USER") or None,
                                 value_proc=checked(check_email))
        elif os.environ.get("SANDBOX_USER"):
            email = os.environ["SANDBOX_USER"]
        else:
            raise UsageError("give --email you@example.com (or set SANDBOX_USER): there is no terminal to ask on")
    if department is None:
        department = click.prompt("Your department", default="default",
                                  value_proc=checked(check_department)) if ask else "default"
    target = Path(path or ctx.config_path or os.environ.get("SANDBOX_CONFIG") or "sandbox.toml")
    written = write_starter(target, email=email, department=department,
                            key_file=Path(key_file) if key_file else None, clouds=list(clouds) or None)
    key = f"a new key in {written.key_file} (mode 0600)" if written.key_created else f"the key in {written.key_file}"
    click.echo(f"wrote {written.config} with {key}")
    use = "" if target == Path("sandbox.toml") else f"with --config {written.config} (or SANDBOX_CONFIG), "
    click.echo(f"next, {use}run: sandbox db upgrade, then sandbox admin bootstrap", err=True)


# ---- database ------------------------------------------------------------------------

@main.group()
def db():
    """Database schema."""


@db.command(name="upgrade")
@pass_ctx
def db_upgrade(ctx):
    """Create or migrate the schema to this version."""
    from sandbox.db import make_engine, upgrade

    ctx.require_local("db upgrade")
    before, after = upgrade(make_engine(ctx.settings.database_url()))
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


# ---- local emulators -----------------------------------------------------------------

@main.command()
@click.argument("cloud")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), help="Default: the port the cloud's emulator usually takes.")
def emulator(cloud, host, port):
    """Run CLOUD's local stand-in in the foreground (no account needed), e.g. sandbox emulator aws."""
    from sandbox.provider import cloud_named

    cloud_named(cloud).serve_emulator(host, port)


# ---- daemon --------------------------------------------------------------------------

class JobOption(click.Option):
    """--job's help names the jobs, read from sandbox.jobs when the help is shown: every
    other command (`sandbox list`) runs without importing it."""

    def get_help_record(self, ctx):
        from sandbox.jobs import JOB_NAMES

        self.help = f"Only this job (repeatable): {', '.join(JOB_NAMES)}."
        return super().get_help_record(ctx)


@main.command()
@click.option("--once", is_flag=True, help="Run each job once and exit (cron, Kubernetes CronJob).")
@click.option("--job", "jobs", cls=JobOption, multiple=True, metavar="NAME")
@pass_ctx
def daemon(ctx, once, jobs):
    """Run the sweeps on their [daemon] intervals until SIGTERM (or once, with --once)."""
    from sandbox.daemon import run_daemon

    ctx.require_operator("daemon")
    sys.exit(run_daemon(ctx.settings, once=once, jobs=jobs))


# ---- reports -------------------------------------------------------------------------

@main.command()
@click.argument("kind", metavar="KIND")
@click.option("--since", metavar="DATE", help="First UTC day, YYYY-MM-DD (default: 29 days before --until).")
@click.option("--until", metavar="DATE", help="Last UTC day, inclusive (default: today).")
@click.option("--group-by", metavar="GROUP", help="usage, cost, html: owner, department (default), template, provider.")
@click.option("--output", "-o", "--format", "fmt", type=click.Choice(["table", "csv", "json", "html"],
              case_sensitive=False), default="table", show_default=True,
              help="html needs --out. Piped, a table is the CSV's rows, tab-separated.")
@click.option("--out", metavar="FILE", help="Write to FILE (atomically) instead of printing.")
@click.option("--days", metavar="N", help="expiring: look N days ahead (default 7).")
@click.option("--sandbox", "sandbox_ref", metavar="ID", help="audit: one sandbox (id, id prefix or name).")
@click.option("--actor", metavar="EMAIL", help="audit: events by this actor (or daemon).")
@click.option("--action", metavar="NAME", help="audit: events of this action, e.g. extend.")
@pass_ctx
def report(ctx, kind, since, until, group_by, fmt, out, days, sandbox_ref, actor, action):
    """Reports for admins (everything) and managers (their departments).
    KIND: usage, cost, expiring, compliance or audit (see docs/reports.md)."""
    if fmt.lower() == "table" and out is None and not sys.stdout.isatty():
        fmt = "tsv"  # piped: lines for cut and awk, as every read command pipes its table
    text, path = ctx.backend.report(kind, since=since, until=until, group_by=group_by, fmt=fmt, out=out,
                                    days=days, sandbox=sandbox_ref, actor=actor, action=action)
    if path is not None:
        click.echo(f"wrote {path}", err=True)
    else:
        click.echo(text, nl=False)


# ---- signing in and API tokens -------------------------------------------------------------

@main.command()
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL and read the redirected URL back.")
@pass_ctx
def login(ctx, no_browser):
    """Sign in to the server ([server] url / SANDBOX_SERVER) through your browser."""
    from sandbox.client.session import login_to_server

    identity = login_to_server(ctx.server_url, open_browser=not no_browser, echo=lambda m: click.echo(m, err=True))
    click.echo(f"signed in to {ctx.server_url} as {identity['email']} ({', '.join(identity['roles'])})")


@main.command()
@pass_ctx
def logout(ctx):
    """Forget the cached sign-in for the server."""
    from sandbox.client.session import forget_login

    removed = forget_login(ctx.server_url)
    click.echo(f"signed out of {ctx.server_url}" if removed else f"not signed in to {ctx.server_url}")


@main.command()
@OUTPUT
@pass_ctx
def whoami(ctx, output):
    """Who the server (or, in local mode, the config) says you are."""
    emit(ctx.backend.whoami(), output)


@main.group()
def token():
    """Personal API tokens for scripts and CI (use one with SANDBOX_TOKEN)."""


@token.command(name="create")
@click.argument("name")
@click.option("--expires-in", default="30d", show_default=True, help="Lifetime, e.g. 90d.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="write", show_default=True)
@OUTPUT
@pass_ctx
def token_create(ctx, name, expires_in, scope, output):
    """Create a token; its secret is shown this once."""
    view = ctx.backend.create_token(name, expires_in=expires_in, scope=scope)
    emit(view, output)
    if output == "table":
        click.echo("store the token now: it is not shown again (use it as SANDBOX_TOKEN)", err=True)


@token.command(name="list")
@click.option("--owner", metavar="EMAIL", help="Admins: another user's tokens ('*': everyone's).")
@WIDE
@OUTPUT
@pass_ctx
def token_list(ctx, owner, wide, output):
    """Your tokens with when they were created and last used."""
    emit(ctx.backend.tokens(owner), output,
         ("id", "name", "owner", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"), wide=wide)


@token.command(name="revoke")
@click.argument("token_id")
@OUTPUT
@pass_ctx
def token_revoke(ctx, token_id, output):
    """Revoke a token at once."""
    emit(ctx.backend.revoke_token(token_id), output)


# ---- server --------------------------------------------------------------------------

@main.command()
@click.option("--host", help="Address to listen on (default: [server] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [server] port, 8080).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default: [server] workers).")
@pass_ctx
def server(ctx, host, port, workers):
    """Run the HTTP API (and browser sign-in) behind the [auth] OpenID Connect issuer."""
    from sandbox.server.run import serve

    ctx.require_local("server")
    serve(ctx.settings, host=host, port=port, workers=workers)


if __name__ == "__main__":
    main()
