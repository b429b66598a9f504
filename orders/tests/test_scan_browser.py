"""The verifier scans the customer's QR code with the phone camera (issue 19 item 9): Chromium's fake
video capture plays a generated QR image, the page reads it (the browser's BarcodeDetector where it
reads QR codes, else the vendored ZXing ponyfill), looks the voucher up and waits for the tap that
verifies it. zh-Hans at 375×812, screenshots at 375 and 1440 px, 44 px targets, axe-core."""

from datetime import timedelta

import pytest
import qrcode
from django.utils import timezone

from accounts.models import Role
from chat.models import Customer
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import DESKTOP, assert_tap_targets
from conftest import BROWSER_WAIT_MS, CHROMIUM, CHROMIUM_ARGS, make_agent, make_workspace, outside_the_browser_loop
from orders.models import Voucher

pytestmark = [pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 640, 480


def write_camera_video(path, text):
    """A Y4M clip (what --use-file-for-fake-video-capture plays) of a QR code on a grey desk: luma
    plane from the QR modules, neutral chroma."""
    qr = qrcode.QRCode(border=4)
    qr.add_data(text)
    rows = [[dark for dark in row for _ in range(8)] for row in qr.get_matrix() for _ in range(8)]
    size = len(rows)
    assert size < HEIGHT
    top, left = (HEIGHT - size) // 2, (WIDTH - size) // 2
    luma = bytearray([150]) * (WIDTH * HEIGHT)
    for y, row in enumerate(rows):
        start = (top + y) * WIDTH + left
        luma[start:start + size] = bytes(20 if dark else 235 for dark in row)
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(3):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


@pytest.fixture
def counter(db):
    ws = make_workspace("Tea House")
    make_agent(ws, role=Role.VERIFIER, username="counter")
    customer = Customer.objects.create(workspace=ws, name="韩梅梅")
    return Voucher.objects.create(workspace=ws, code="TEA-2024-0001", title="双人下午茶套餐",
                                  customer=customer, valid_until=timezone.now() + timedelta(days=30))


@pytest.fixture
def camera_browser(tmp_path, counter):
    from playwright.sync_api import sync_playwright

    video = tmp_path / "qr.y4m"
    # The shop's QR codes carry a link to the voucher; the page takes the code from its last segment.
    write_camera_video(video, "https://tea.example/v/TEA-2024-0001")
    args = CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-video-capture={video}"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def test_verifier_scans_the_customers_qr_code_and_verifies(counter, live_server_url, camera_browser, artifacts):
    from playwright.sync_api import expect

    ctx = camera_browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True,
                                     permissions=["camera"])
    page = ctx.new_page()
    refused = []
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_server_url}/accounts/login/?next=/verify/")
    page.fill("#id_username", "counter")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")

    scan = page.get_by_role("button", name="扫码")
    expect(scan).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert_tap_targets(page.locator("[data-lookup] button"))
    no_serious_accessibility_violations(page)
    native = page.evaluate("'BarcodeDetector' in window")  # Chromium on Linux has none: the ZXing ponyfill reads
    fetched = []
    page.on("request", lambda request: fetched.append(request.url.rsplit("/", 1)[-1]))
    scan.click()

    # The code is read, filled in and looked up; verifying waits for the verifier's tap.
    card = page.locator("[data-voucher]")
    expect(card.locator("h2")).to_have_text("双人下午茶套餐", timeout=BROWSER_WAIT_MS)
    expect(page.get_by_label("券码或订单号")).to_have_value("TEA-2024-0001")
    expect(card.locator("[data-state]")).to_have_text("有效")
    assert outside_the_browser_loop(lambda: Voucher.objects.get(pk=counter.pk).status) == Voucher.Status.VALID
    assert page.evaluate("document.querySelector('[data-scan-panel] video').srcObject") is None  # camera released
    assert native or {"ponyfill.js", "zxing_reader.wasm"} <= set(fetched), fetched  # from our static files
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "verify-scanned-phone.png", full_page=True)
    page.get_by_role("button", name="标记为已核销").click()
    expect(page.locator(".notice-success")).to_contain_text("TEA-2024-0001")
    voucher = outside_the_browser_loop(lambda: Voucher.objects.select_related("verified_by").get(pk=counter.pk))
    assert voucher.status == Voucher.Status.VERIFIED and voucher.verified_by.username == "counter"
    expect(page.locator(".recent-list li").first).to_contain_text("TEA-2024-0001")

    # At the desk the same code again: the card says it is already verified, and offers nothing to tap.
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="扫码").click()
    expect(page.locator("[data-voucher] [data-state]")).to_have_text("已核销", timeout=BROWSER_WAIT_MS)
    expect(page.get_by_role("button", name="标记为已核销")).to_have_count(0)
    page.screenshot(path=artifacts / "verify-scanned-desktop.png", full_page=True)
    assert refused == []  # the page's policy lets the QR reader compile, and nothing else was refused
    ctx.close()


def test_without_camera_permission_the_page_says_so_and_typing_still_works(counter, live_server_url, camera_browser, artifacts):
    from playwright.sync_api import expect

    ctx = camera_browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(f"{live_server_url}/accounts/login/?next=/verify/")
    page.fill("#id_username", "counter")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")
    # the verifier taps "Block" on the browser's camera prompt
    page.evaluate("() => { navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError')); }")
    page.get_by_role("button", name="扫码").click()
    expect(page.locator("[data-scan-status]")).to_contain_text("无法打开摄像头")
    assert_tap_targets(page.locator("[data-scan-panel] button"))
    page.screenshot(path=artifacts / "verify-scan-denied-phone.png", full_page=True)
    page.get_by_role("button", name="停止扫码").click()
    expect(page.locator("[data-scan-panel]")).to_be_hidden()
    page.get_by_label("券码或订单号").fill("tea-2024-0001")  # lower case, as typed
    page.get_by_role("button", name="查询").click()
    expect(page.locator("[data-voucher] h2")).to_have_text("双人下午茶套餐")
    ctx.close()
