"""The operator console in a real browser (headless Chromium through selenium).

Run by ConsoleBrowserTests against a `concert serve` it started with a fresh database and virtual
host, where it published poison messages that the worker dead-letters. Arguments come from the
environment: CONSOLE_URL (http://127.0.0.1:PORT), CONSOLE_ADMIN_TOKEN, CONSOLE_ACCESS_TOKENS
(comma-separated access tokens of buyers), CONSOLE_USER (the first buyer's user id),
CONSOLE_POISON (how many poison messages were injected), CONSOLE_SCREENSHOTS (optional folder).
Exits non-zero, saying which step failed, on the first failure.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["CONSOLE_URL"]
ADMIN = os.environ["CONSOLE_ADMIN_TOKEN"]
ACCESS = os.environ["CONSOLE_ACCESS_TOKENS"].split(",")
USER = os.environ["CONSOLE_USER"]
POISON = int(os.environ["CONSOLE_POISON"])
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


def step(text):
    print(f"browser: {text}", flush=True)


def api(method, path, token=None, body=None, headers=None):
    """A plain HTTP request (no browser): status and body text."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None and not isinstance(body, bytes):
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def reserve(count):
    """Buyers queue, wait until admitted and reserve `count` seats in all."""
    tokens = []
    for access in ACCESS:
        status, text = api("POST", "/v1/queue/tokens", access, {"concertId": 1})
        assert status in (200, 201), f"queue token: {status} {text}"
        tokens.append(json.loads(text)["token"])
    for token in tokens:
        for _ in range(100):
            status, text = api("GET", "/v1/queue/status", token)
            if status == 200 and json.loads(text).get("status") == "active":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("a buyer was never admitted")
    status, text = api("GET", "/v1/concerts/1/dates", tokens[0])
    date = json.loads(text)["dates"][0]["date"]
    accepted = 0
    for index in range(count):
        token = tokens[index % len(tokens)]
        status, text = api("POST", "/v1/reservations", token, {"concertId": 1, "date": date, "seatNumber": index + 1})
        assert status == 202, f"reservation: {status} {text}"
        accepted += 1
    return accepted


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
# Checks made while a page is being replaced can fail in passing (stale or detached nodes): a
# wait tries again until its time is up.
wait = WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,))


def follow(element):
    """Clicks a link or a form's button and waits until the next page has loaded."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        try:
            old.is_enabled()
            return False
        except WebDriverException:  # stale, or detached while the next page loads
            return True

    wait.until(replaced)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete" and d.find_elements(By.TAG_NAME, "main"))


def text_of(selector):
    return driver.find_element(By.CSS_SELECTOR, selector).text


def shot(name, height=1400):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.set_window_size(1280, height)
        driver.save_screenshot(os.path.join(SHOTS, name))
        driver.set_window_size(1280, 1400)


try:
    step("without a session: pages redirect to sign-in, a POST is refused")
    driver.get(BASE + "/admin/console")
    assert driver.current_url.endswith("/admin/console/sign-in"), driver.current_url
    status, _ = api("POST", "/admin/console/dead-letters/1/discard", body=b"csrf=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401, f"POST without a session answered {status}"

    step("a wrong token is refused with a message; the right one signs in")
    driver.find_element(By.ID, "token").send_keys("not-the-token")
    follow(driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert "not the admin token" in text_of("[role=alert]"), driver.page_source[:500]
    driver.find_element(By.ID, "token").send_keys(ADMIN)
    follow(driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    wait.until(lambda d: d.find_elements(By.ID, "partitions-heading"))
    cookie = driver.get_cookie("concert_console")
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie

    step("a POST with the session but without the CSRF token is refused")
    session = f"concert_console={cookie['value']}"
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": session}
    status, _ = api("POST", "/admin/console/sign-out", body=b"", headers=form)
    assert status == 403, f"POST without CSRF answered {status}"
    status, _ = api("POST", "/admin/console/sign-out", body=b"csrf=forged", headers=form)
    assert status == 403, f"POST with a forged CSRF token answered {status}"

    step("the overview's counts change after reservations, without reloading the page")
    before = text_of("#commits-caption")
    accepted = reserve(12)
    def committed(d):
        rates = [float(cell.text) for cell in d.find_elements(By.CSS_SELECTOR, "td[data-rate]")]
        return sum(rates) > 0 and d.find_element(By.ID, "commits-caption").text != before
    wait.until(committed)
    caption = text_of("#commits-caption")
    step(f"  {accepted} reservations accepted; the graph now says: {caption}")
    shot("console-overview.png")

    step("the poison messages are in a dead-letter group")
    follow(driver.find_element(By.LINK_TEXT, "Dead letters"))
    def grouped(d):
        d.refresh()
        return d.find_elements(By.CSS_SELECTOR, "tr[data-group]")
    rows = WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(grouped)
    assert len(rows) == 1, f"{len(rows)} groups"
    count = int(rows[0].find_elements(By.CSS_SELECTOR, "td.num")[0].text)
    assert count == POISON, f"the group has {count} letters, {POISON} were injected"
    shot("console-dead-letters.png", height=420)

    step("the filter: by partition and reason")
    driver.find_element(By.ID, "partition").send_keys("3")
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Filter']"))
    assert "No dead letters match the filter." in text_of("main"), "partition 3 has no letters: " + text_of("main")[-300:]
    driver.find_element(By.ID, "partition").clear()
    driver.find_element(By.ID, "partition").send_keys("0")
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Filter']"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-group]")) == 1, "partition 0 has the poison"
    reason = driver.find_element(By.CSS_SELECTOR, "tr[data-group] th a").text
    driver.find_element(By.ID, "reason").send_keys(reason)
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Filter']"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-group]")) == 1, "filtered by its own reason"
    driver.find_element(By.ID, "since").send_keys("2999-01-01T00:00")
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Filter']"))
    assert "No dead letters match the filter." in text_of("main"), "nothing is seen in the future"
    driver.get(BASE + "/admin/console/dead-letters")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-group]")

    step("one letter: body, headers and x-death; replay it")
    follow(rows[0].find_element(By.CSS_SELECTOR, "th a"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tbody th a"))
    group_url = driver.current_url
    letters = [link.get_attribute("href") for link in driver.find_elements(By.CSS_SELECTOR, "tbody th a")]
    assert len(letters) == POISON, f"{len(letters)} letters listed"
    driver.get(letters[0])
    wait.until(lambda d: d.find_elements(By.ID, "body"))
    assert "not a command" in text_of("#body"), text_of("#body")
    assert text_of("#headers").strip().startswith("{"), text_of("#headers")
    assert text_of("#x-death"), "no x-death section"
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Replay']"))
    wait.until(lambda d: "Replayed 1 letter(s)." in d.find_element(By.CSS_SELECTOR, ".notice").text)

    step("discard another letter")
    driver.get(letters[1])
    letter_url = driver.current_url
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Discard']"))
    wait.until(lambda d: "Discarded 1 letter(s)." in d.find_element(By.CSS_SELECTOR, ".notice").text)
    driver.get(letter_url)
    assert "No dead letter" in driver.page_source, "the discarded letter is still there"

    step("replay the whole group after a confirmation that says how many")
    driver.get(BASE + "/admin/console/dead-letters")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-group]")
    remaining = int(rows[0].find_elements(By.CSS_SELECTOR, "td.num")[0].text)
    assert remaining == POISON - 1, f"{remaining} letters left after discarding one of {POISON}"
    follow(rows[0].find_element(By.XPATH, ".//button[normalize-space()='Replay all…']"))
    wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1") and "Replay" in d.find_element(By.TAG_NAME, "h1").text)
    assert f"Replay {remaining} dead letter(s)?" == text_of("h1"), text_of("h1")
    follow(driver.find_element(By.XPATH, f"//button[normalize-space()='Replay {remaining} letter(s)']"))
    wait.until(lambda d: f"Replayed {remaining} letter(s)." in d.find_element(By.CSS_SELECTOR, ".notice").text)

    step("discard the whole group after its confirmation")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-group]")
    follow(rows[0].find_element(By.XPATH, ".//button[normalize-space()='Discard all…']"))
    wait.until(lambda d: "Discard" in d.find_element(By.TAG_NAME, "h1").text)
    confirm = text_of("h1")
    assert confirm.startswith("Discard ") and confirm.endswith(" dead letter(s)?"), confirm
    many = int(confirm.split()[1])
    follow(driver.find_element(By.XPATH, f"//button[normalize-space()='Discard {many} letter(s)']"))
    wait.until(lambda d: f"Discarded {many} letter(s)." in d.find_element(By.CSS_SELECTOR, ".notice").text)

    step("commands: a user's latest, with their outcomes")
    follow(driver.find_element(By.LINK_TEXT, "Commands"))
    driver.find_element(By.ID, "user").send_keys(USER)
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Look up']"))
    def looked_up(d):
        cells = d.find_elements(By.XPATH, "//tbody/tr/td[4]")
        return [cell.text for cell in cells]
    statuses = wait.until(looked_up)
    assert "succeeded" in statuses, statuses
    command_id = driver.find_element(By.CSS_SELECTOR, "tbody th code").text
    driver.find_element(By.ID, "user").clear()
    driver.find_element(By.ID, "id").send_keys(command_id)
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Look up']"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tbody tr")) == 1 and command_id in d.page_source)

    step("catalogue: each concert's sale status, and its dates' seats by state")
    follow(driver.find_element(By.LINK_TEXT, "Catalogue"))
    assert text_of("h1") == "Catalogue", text_of("h1")
    concert = driver.find_element(By.CSS_SELECTOR, "section[data-concert='1']")
    assert concert.find_element(By.CSS_SELECTOR, "[data-status]").text == "on-sale"
    first = concert.find_element(By.CSS_SELECTOR, "tbody tr[data-date]")
    held = int(first.find_element(By.CSS_SELECTOR, "[data-held]").text)
    free = int(first.find_element(By.CSS_SELECTOR, "[data-free]").text)
    assert held >= 1 and held + free + int(first.find_element(By.CSS_SELECTOR, "[data-sold]").text) == 50, (held, free)
    shot("console-catalogue.png")

    step("every page is reachable from the keyboard: the first Tab lands on a link")
    driver.find_element(By.TAG_NAME, "body").send_keys("\t")
    focused = driver.switch_to.active_element
    assert focused.tag_name == "a", focused.tag_name

    step("sign out; the pages need a session again")
    follow(driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']"))
    wait.until(lambda d: d.current_url.endswith("/admin/console/sign-in"))
    driver.get(BASE + "/admin/console/commands")
    assert driver.current_url.endswith("/admin/console/sign-in"), driver.current_url
    step("all steps passed")
except Exception as error:  # the step that failed is the last one printed
    print(f"browser: FAILED: {type(error).__name__}: {error}", flush=True)
    shot("console-failure.png")
    sys.exit(1)
finally:
    driver.quit()
