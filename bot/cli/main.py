"""The `warroom` command line (also `python -m bot`): run, check, scenarios.

Each command reads settings for itself (only `run` needs Slack tokens) and reports every problem at
once. Exit codes: 0 success, 1 problems found, 2 bad usage or configuration, or a database `run`
refuses (damaged, or written by a newer warroom). Invalid settings are reported in one place
(`config_failed`), so `run` and `check` print the same heading and problems and exit with the same
code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.config import Settings, load_settings
from bot.errors import ConfigError, DatabaseUnusable
from bot.redaction import redact_text

log = logging.getLogger("warroom")


class RedactingFilter(logging.Filter):
    """Last line of defence: no secret-looking text leaves through the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("slack_bolt").setLevel(
        max(logging.WARNING, logging.getLevelName(level))
    )


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings("run")
    setup_logging(settings.log_level)
    from bot.app import build_services, create_app, create_web_app
    from bot.web import serve

    services = build_services(settings)
    bolt = create_app(settings, services)
    socket_mode = settings.slack_app_token is not None
    web_app = create_web_app(settings, services, bolt, socket_mode=socket_mode)
    if socket_mode:
        web_app.cleanup_ctx.append(_socket_mode(settings, bolt))
    log.info(
        "starting in %s mode on port %s",
        "Socket" if socket_mode else "HTTP",
        settings.http_port,
    )
    serve(web_app, host=settings.http_host, port=settings.http_port)
    return 0


def _socket_mode(
    settings: Settings, bolt: AsyncApp
) -> Callable[[web.Application], AsyncIterator[None]]:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    token = (
        settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    )

    async def connect(_: web.Application) -> AsyncIterator[None]:
        handler = AsyncSocketModeHandler(bolt, token)
        await handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
        try:
            yield
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    return connect


# The exit code of settings `run` cannot use, for `run` and `check` alike.
EXIT_CONFIG = 2


def config_failed(exc: ConfigError) -> int:
    """Report invalid settings, the heading and every problem, on stderr; return EXIT_CONFIG."""
    print(exc.message, file=sys.stderr, flush=True)
    return EXIT_CONFIG


def cmd_check(args: argparse.Namespace) -> int:
    """Validate settings (for `run`) and every scenario file, offline. Invalid settings are
    reported as `run` reports them, with its exit code; problems in scenario files alone exit 1."""
    invalid: ConfigError | None = None
    try:
        for warning in fail_open(load_settings("run")):
            print(f"warning: {warning}")
    except ConfigError as exc:
        invalid = exc
    code = config_failed(invalid) if invalid else 0
    problems = [str(p) for p in _lint(None)]
    for problem in problems:
        print(problem)
    count = len(problems) + (len(invalid.problems) if invalid else 0)
    print(f"{count} problem(s)" if count else "OK: settings and scenarios are valid")
    return code or (1 if problems else 0)


def fail_open(settings: Settings) -> list[str]:
    """What these settings leave open or unusable that an operator should decide on purpose."""
    found = []
    if not settings.responders:
        found.append(
            "WARROOM_RESPONDERS is empty: every member of the workspace may declare, page and"
            " change incidents."
        )
    if not settings.approvers:
        found.append(
            "WARROOM_APPROVERS is empty: nobody may approve an AWS change, so every mutating"
            " runbook step is refused."
        )
    return found


def _lint(paths: Sequence[str] | None) -> list[object]:
    from pathlib import Path

    from bot.scenarios.lint import lint_files

    return list(lint_files([Path(p) for p in paths] if paths else None))


def cmd_scenarios_lint(args: argparse.Namespace) -> int:
    problems = _lint(args.files)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)" if problems else "OK: no problems")
    return 1 if problems else 0


def cmd_iam_policy(args: argparse.Namespace) -> int:
    """Print the IAM policy allowing exactly the AWS calls the scenarios make, on the resources
    they name in one account and its regions. Exit 2 on a bad account, region or partition."""
    import json

    from bot.errors import ScenarioError, UsageError
    from bot.scenarios import iam_policy
    from bot.scenarios.schema import load_all

    try:
        scenarios = list(load_all().values())
        document = iam_policy.policy(
            scenarios,
            account=args.account,
            regions=args.regions,
            partition=args.partition,
        )
    except UsageError as exc:
        print(f"warroom iam-policy: error: {exc.message}", file=sys.stderr)
        return 2
    except ScenarioError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    for warning in iam_policy.uncovered(scenarios, args.regions):
        print(f"warning: {warning}", file=sys.stderr)
    if iam_policy.size(document) > iam_policy.MANAGED_POLICY_LIMIT:
        print(
            f"warning: the policy has {iam_policy.size(document)} characters, more than the"
            f" {iam_policy.MANAGED_POLICY_LIMIT} of a managed policy: attach it inline.",
            file=sys.stderr,
        )
    print(json.dumps(document, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="warroom", description="Incident-response ChatOps bot for Slack."
    )
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run",
        help="serve Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP)",
        description="Serve Slack: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on"
        " WARROOM_HTTP_PORT at /slack/events. /healthz, /readyz and /metrics are served on the"
        " same port. Settings come from the environment (README, Settings); on SIGTERM it"
        " lets in-flight work finish for up to WARROOM_SHUTDOWN_DRAIN_SECONDS, then exits."
        " Invalid settings: every problem is listed under 'Invalid configuration:' and it exits"
        " 2, as `warroom check` does.",
    ).set_defaults(fn=cmd_run)
    sub.add_parser(
        "check",
        help="validate settings and every scenario, offline",
        description="Validate the settings `warroom run` would use and every shipped scenario"
        " file, offline; print every problem and warn about settings left open. Exit 0 when"
        " valid; 2 when the settings are invalid, listed under 'Invalid configuration:' exactly"
        " as `warroom run` lists them; 1 when only scenario files have problems.",
    ).set_defaults(fn=cmd_check)
    scenarios = sub.add_parser(
        "scenarios",
        help="scenario files",
        description="Work with scenario files (the disaster-recovery plan as YAML).",
    ).add_subparsers(dest="scenarios_command", required=True)
    lint = scenarios.add_parser(
        "lint",
        help="lint scenario files (default: the shipped ones)",
        description="Check scenario files against the schema and botocore's service models;"
        " exit 1 when there are problems.",
    )
    lint.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="scenario YAML files to check (default: every file shipped in the package's"
        " scenarios/ directory)",
    )
    lint.set_defaults(fn=cmd_scenarios_lint)
    iam = sub.add_parser(
        "iam-policy",
        help="print the least-privilege IAM policy for the scenarios",
        description="Print the IAM policy that allows exactly the AWS calls the scenarios and"
        " curated actions make, on the resources they name in ACCOUNT_ID and each REGION"
        " (no mutating action on every resource); attach it to the bot's role.",
    )
    iam.add_argument(
        "--account",
        required=True,
        metavar="ACCOUNT_ID",
        help="the 12-digit AWS account the bot acts in",
    )
    iam.add_argument(
        "--region",
        required=True,
        action="append",
        dest="regions",
        metavar="REGION",
        help="a region the scenarios act in; repeat it for each (the regional failover acts"
        " in its DR region: --region us-east-1 --region us-west-2)",
    )
    iam.add_argument(
        "--partition",
        help="aws, aws-cn or aws-us-gov (default: the regions' partition)",
    )
    iam.set_defaults(fn=cmd_iam_policy)
    from bot.cli.reports import add_parsers as add_report_parsers

    add_report_parsers(sub)  # verify, export, stats
    from bot.cli.backups import add_parsers as add_backup_parsers

    add_backup_parsers(sub)  # backup, restore
    from bot.cli.sandbox import add_parsers as add_sandbox_parsers

    add_sandbox_parsers(sub)  # demo, console, drill
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ConfigError as exc:
        return config_failed(exc)
    except DatabaseUnusable as exc:
        print(exc.message, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
