from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from gateway.db import make_engine, normalise_url
from gateway.console import models as _console_models  # noqa: F401  (registers tables)
from gateway.escalation import models as _escalation_models  # noqa: F401  (registers tables)
from gateway.models import Base
from gateway.outreach import models as _outreach_models  # noqa: F401  (registers tables)

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from gateway.config import get_settings

        url = get_settings().database_url
    return normalise_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
