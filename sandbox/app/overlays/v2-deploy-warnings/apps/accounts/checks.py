"""A deploy-time check (`manage.py check --deploy`): API tokens must expire in production."""
from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def token_ttl(app_configs, **kwargs):
    if not settings.API_TOKEN_TTL:
        return [Warning("API_TOKEN_TTL is 0: API tokens never expire",
                        hint="set API_TOKEN_TTL (seconds) in the environment",
                        id="accounts.W001")]
    return []
