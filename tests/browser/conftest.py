import os

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by the tests
# themselves are safe here (one thread, the live server has its own).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
