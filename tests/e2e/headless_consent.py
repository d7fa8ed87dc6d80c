"""A headless browser for one sign-in: opens an authorization URL of our server, submits
the consent form with Approve (its request and CSRF fields, with the cookie the page set),
and follows the redirects (GitHub, our callback) to wherever the client's redirect URI
points, as a person's browser would. Prints where it ended and that page's status.

Usage: headless_consent.py AUTHORIZATION_URL
"""

import html
import re
import sys
from urllib.parse import urlparse

import httpx2


def main() -> None:
    url = sys.argv[1]
    with httpx2.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(url)
        if page.status_code != 200:
            sys.exit(f"headless_consent: the consent page answered {page.status_code}: {page.text[:500]}")
        fields = {
            name: html.unescape(value)
            for name, value in re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
        }
        if set(fields) != {"request", "csrf"}:
            sys.exit(f"headless_consent: no consent form in the page: {page.text[:500]}")
        origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
        step = browser.post(f"{origin}/authorize", data={**fields, "decision": "approve"})
        for _ in range(6):
            if step.status_code not in (301, 302, 303, 307, 308):
                break
            step = browser.get(step.headers["location"])
        print(f"headless_consent: ended at {step.url} with HTTP {step.status_code}")
        if step.status_code >= 400:
            sys.exit(1)


main()
