"""Signs in to a running console and saves a screenshot of one of its pages.

    python3 Tests/Browser/screenshot.py URL ADMIN_TOKEN PAGE OUT.png
e.g. the overview of a `concert serve` under `scripts/bench e2e` (the Operating article's screenshot).
"""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, token, page, out = sys.argv[1:5]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(base + "/admin/console/sign-in")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    driver.get(base + page)
    time.sleep(4)  # two live refreshes
    driver.save_screenshot(out)
finally:
    driver.quit()
