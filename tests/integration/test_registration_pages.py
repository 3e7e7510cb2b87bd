"""The public registration pages: served as HTML that works without JavaScript, and used
through a real browser (Debian's chromium, driven by Playwright) as a person would."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from services.events.tables import Registration
from tests.helpers import listening, path_of, runtime_of, serving
from tests.services import events_app, mailed_link, published_event

pytestmark = pytest.mark.integration


async def count_registrations(app) -> int:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return len((await session.scalars(Registration.__table__.select())).all())


async def test_the_page_names_its_language_and_ties_each_error_to_its_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db")
    async with serving(app) as client:
        event_id = await published_event(client, partners=["Mandag Morgen", "KL"])
        page = await client.get(f"/events/{event_id}")
        assert page.status_code == 200
        assert "Arrangeret med</dt><dd>Mandag Morgen, KL" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="da">' in page.text
        for field in ("name", "email", "organisation", "consent"):
            assert f'<label for="{field}"' in page.text or f'for="{field}"' in page.text
        assert '<html lang="en">' in (await client.get(f"/events/{event_id}?lang=en")).text

        bad = await client.post(
            f"/events/{event_id}",
            data={"name": "", "email": "ikke-en-adresse", "language": "da"},
        )
        assert bad.status_code == 422
        for field in ("name", "email", "consent"):
            assert re.search(
                rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"', bad.text
            ) or re.search(rf'aria-invalid="true" aria-describedby="{field}-error"', bad.text)
            assert f'id="{field}-error"' in bad.text
        assert 'role="alert"' in bad.text
        assert "organisation-error" not in bad.text
        # what was typed is kept, and escaped
        script = await client.post(
            f"/events/{event_id}", data={"name": "<script>x</script>", "email": "x"}
        )
        assert "<script>x</script>" not in script.text and "&lt;script&gt;" in script.text
        assert await count_registrations(app) == 0

        ok = await client.post(
            f"/events/{event_id}",
            data={
                "name": "Anne Holm",
                "email": "anne@aarhus.dk",
                "consent": "yes",
                "language": "da",
            },
        )
        assert ok.status_code == 303
        told = await client.get(ok.headers["location"])
        assert '<html lang="da">' in told.text and "Vi sender dig nu en e-mail" in told.text
        own = await client.get(path_of(await mailed_link(app, "anne@aarhus.dk")))
        assert "Du er tilmeldt" in own.text and "<svg" in own.text
        assert await count_registrations(app) == 1

        assert (await client.get("/events/no-such-event")).status_code == 404


async def register_in_browser(page: Page, base_url: str, event_id: str, name: str) -> None:
    await page.goto(f"{base_url}/events/{event_id}")
    await page.get_by_label("Navn", exact=True).fill(name)
    await page.get_by_label("E-mailadresse", exact=True).fill(
        f"{name.split()[0].lower()}@silkeborg.dk"
    )
    await page.get_by_label("Jeg giver samtykke").check()
    await page.get_by_role("button", name="Tilmeld mig").click()


async def test_a_person_registers_in_a_browser_until_the_event_is_full_and_moves_up_the_line(
    tmp_path, browser: Browser
) -> None:  # type: ignore[no-untyped-def]
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db")
    async with listening(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            event_id = await published_event(client, capacity=1)
        # no JavaScript: plain forms must do it all
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()

        await page.goto(f"{base_url}/events/{event_id}")
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        await page.get_by_role("button", name="Tilmeld mig").click()
        await expect(page.get_by_role("alert")).to_contain_text("Ret venligst")
        await expect(page.get_by_label("Navn", exact=True)).to_have_attribute(
            "aria-invalid", "true"
        )
        await expect(page.get_by_label("Navn", exact=True)).to_have_accessible_description(
            re.compile("Skriv dit navn")
        )

        await register_in_browser(page, base_url, event_id, "Anne Holm")
        await expect(page.get_by_role("status")).to_contain_text("Vi sender dig nu en e-mail")
        # the link in her e-mail
        anne_page = base_url + path_of(await mailed_link(app, "anne@silkeborg.dk"))
        await page.goto(anne_page)
        await expect(page.get_by_role("status")).to_contain_text("Du er tilmeldt")
        await expect(page.get_by_role("img", name=re.compile("QR-kode"))).to_be_visible()

        await page.goto(f"{base_url}/events/{event_id}")
        await expect(page.get_by_text("Arrangementet er fuldt")).to_be_visible()
        await register_in_browser(page, base_url, event_id, "Bo Lund")
        bo_page = base_url + path_of(await mailed_link(app, "bo@silkeborg.dk"))
        await page.goto(bo_page)
        await expect(page.get_by_role("status")).to_contain_text("ventelisten")

        await page.goto(anne_page)
        await page.get_by_role("button", name="Annullér min tilmelding").click()
        await expect(page.get_by_role("status")).to_contain_text("annulleret")

        await page.goto(bo_page)
        await expect(page.get_by_role("status")).to_contain_text("Der er en plads til dig")
        await page.get_by_role("button", name="Tag imod pladsen").click()
        await expect(page.get_by_role("status")).to_contain_text("Du er tilmeldt")

        await page.goto(f"{bo_page.split('?')[0]}?lang=en")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.get_by_role("status")).to_contain_text("You are registered")
        await context.close()
