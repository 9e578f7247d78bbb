#!/usr/bin/python3
"""The web dashboard in a real browser: headless Chromium driven by Selenium, against a real
meshd (--no-mesh, interpreter engine) on a temporary data dir and a free port.

Run by ctest with Debian's python3 (python3-selenium) and Debian's chromium and chromedriver:
  dashboard_browser_test.py --meshd PATH --examples DIR --screenshots DIR
      [--chromium /usr/bin/chromium] [--chromedriver /usr/bin/chromedriver] [unittest args]

DashboardTest: sign-in, every page loads with no console error (the browser's log is read after
each), the overview at phone width without sideways scrolling, a job submitted through the form
completes while its state changes on the page without a reload, a split job's chunk proof
passes the in-browser check and fails once one byte of the proof is altered, the ledger's chain
verifies. MeshTest: two nodes on the mesh, the peer table and a market job's bids in its
explain table. RolesTest: a read-only user does not see the submit form (needs the accounts of
issue 18 part 3: POST /v1/users and GET /v1/me). Each page is saved as a PNG under
--screenshots. Nothing sleeps to synchronise: waits poll the page with a deadline.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ARGS = None  # set in main()
WAIT_S = 30


class Meshd:
    """A meshd on a fresh data dir; stop() ends it (SIGTERM, then SIGKILL of its group)."""

    def __init__(self, mesh_peers=None):
        """`mesh_peers`: None runs the node alone (--no-mesh); a list of mesh addresses (maybe
        empty) joins the mesh through them, with fast heartbeats."""
        self.tmp = tempfile.mkdtemp(prefix='mesh_dashboard_test.')
        self.data_dir = os.path.join(self.tmp, 'data')
        self.log_path = os.path.join(self.tmp, 'meshd.log')
        env = {k: v for k, v in os.environ.items() if not k.startswith('MESH_')}
        mesh = ['--no-mesh']
        if mesh_peers is not None:
            os.makedirs(self.data_dir, mode=0o700)
            with open(os.path.join(self.data_dir, 'meshd.toml'), 'w') as f:
                f.write('[mesh]\nheartbeat = "200ms"\ndead_after = "1500ms"\n')
            mesh = ['--mesh-listen', '127.0.0.1:0']
            for peer in mesh_peers:
                mesh += ['--peer', peer]
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                [ARGS.meshd, '--data-dir', self.data_dir, '--listen', '127.0.0.1:0', *mesh,
                 '--engine', 'interp', '--max-concurrent', '2', '--log-level', 'warn'],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True)
        lines = queue.Queue()

        def pump():
            with self.proc.stdout:
                for raw in self.proc.stdout:
                    lines.put(raw.decode('utf-8', 'replace'))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f'meshd was not ready within 60 s:\n{self.log()}') from None
            if line is None:
                raise AssertionError(f'meshd exited with {self.proc.wait()}:\n{self.log()}')
            if line.startswith('meshd ready at '):
                self.url = line.split()[3]
                break
        with open(os.path.join(self.data_dir, 'api.token')) as f:
            self.token = f.read().strip()

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read()[-4000:].decode('utf-8', 'replace')

    def api(self, method, path, payload=None, token=None):
        """(status, JSON body) of one API request with the admin token (or `token`)."""
        body = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=body, method=method, headers={
            'Authorization': 'Bearer ' + (token or self.token), 'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b'null')
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b'null')

    def upload(self, path):
        """The CID of the file at `path`, stored on the node."""
        with open(path, 'rb') as f:
            req = urllib.request.Request(self.url + '/v1/blobs', data=f.read(), method='POST',
                                         headers={'Authorization': 'Bearer ' + self.token,
                                                  'Content-Type': 'application/octet-stream'})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())['cid']

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = ARGS.chromium
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--window-size=1280,1000', '--no-first-run', '--disable-extensions',
                 '--disable-background-networking', '--disable-component-update'):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=ARGS.chromedriver), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(ARGS.screenshots, exist_ok=True)
        cls.node = Meshd()
        cls.addClassCleanup(cls.node.stop)
        cls.driver = start_browser()
        cls.addClassCleanup(cls.driver.quit)

    # --- helpers ---------------------------------------------------------------------------------

    def wait(self, predicate, what, timeout=WAIT_S):
        def safe(driver):
            try:
                return predicate(driver)
            except StaleElementReferenceException:
                return False  # the page re-rendered under us: look again
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(safe)
        except Exception as e:
            self.screenshot('failure-' + what.replace(' ', '-')[:40])
            raise AssertionError(f'timed out after {timeout} s waiting for {what}; console: '
                                 f'{self.driver.get_log("browser")}') from e

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def present(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def attr(self, css, name):
        found = self.present(css)
        return found[0].get_attribute(name) if found else None

    def screenshot(self, name, show=None):
        """Saves the viewport as <name>.png, scrolled to the element `show` (CSS) if given."""
        if show:
            self.driver.execute_script('arguments[0].scrollIntoView({block: "center"})',
                                       self.find(show))
        path = os.path.join(ARGS.screenshots, name + '.png')
        self.driver.save_screenshot(path)
        return path

    def console_errors(self):
        """The browser log's errors since the last look (reading the log drains it)."""
        return [e for e in self.driver.get_log('browser') if e['level'] == 'SEVERE']

    def assert_no_console_errors(self, where):
        self.assertEqual(self.console_errors(), [], f'console errors on {where}')

    def sign_in(self, token):
        self.driver.get(self.node.url + '/')
        self.wait(lambda d: self.find('#sign-in').is_displayed() or self.find('#nav').is_displayed(),
                  'the page to start')
        if self.find('#nav').is_displayed():
            self.find('#sign-out').click()
        self.find('#token').send_keys(token)
        self.find('#sign-in-button').click()
        self.wait(lambda d: self.find('#nav').is_displayed(), 'sign-in')

    def open_page(self, hash_, ready_css, what):
        self.driver.execute_script('location.hash = arguments[0]', hash_)
        self.wait(lambda d: self.present(ready_css), what)

    def submit_through_form(self, module, text, args='', split=None):
        self.open_page('#/submit', '#submit-form', 'the submit form')
        self.find('#module-file').send_keys(os.path.join(ARGS.examples, module + '.wasm'))
        self.find('#input-text').send_keys(text)
        if args:
            self.find('#args').send_keys(args)
        if split:
            Select(self.find('#split-kind')).select_by_value(split[0])
            parts = self.find('#split-parts')
            parts.clear()
            parts.send_keys(str(split[1]))
        self.find('#submit-button').click()
        link = self.wait(lambda d: self.present('#submit-job-link'), 'the submitted job')[0]
        return link.text


class DashboardTest(BrowserTest):
    def test_1_sign_in_refuses_a_wrong_token_and_keeps_the_right_one_in_the_tab(self):
        self.driver.get(self.node.url + '/')
        self.wait(lambda d: self.find('#sign-in').is_displayed(), 'the sign-in form')
        self.screenshot('sign-in')
        self.assert_no_console_errors('the sign-in page')
        self.find('#token').send_keys('not-the-token')
        self.find('#sign-in-button').click()
        self.wait(lambda d: 'not accepted' in self.find('#sign-in-error').text, 'the refusal')
        self.console_errors()  # the 401 of the refused token is logged by the browser: expected
        self.sign_in(self.node.token)
        self.assertEqual(self.driver.execute_script("return sessionStorage.getItem('mesh.token')"),
                         self.node.token)
        self.assertEqual(self.driver.get_cookies(), [], 'the dashboard sets no cookie')
        # Before accounts exist the node's token is taken as an admin's; after, /v1/me says so.
        self.assertEqual(self.find('#user-role').text, 'admin')
        self.driver.refresh()  # the tab keeps the token: no second sign-in
        self.wait(lambda d: self.find('#nav').is_displayed(), 'the page to sign in from the tab')
        self.assert_no_console_errors('sign-in')

    def test_2_every_page_loads_without_console_errors(self):
        self.sign_in(self.node.token)
        pages = [
            ('#/', '#tiles .tile', 'overview', 'the overview tiles'),
            ('#/jobs', '#jobs-list', 'jobs', 'the job list'),
            ('#/submit', '#submit-form', 'submit', 'the submit form'),
            ('#/peers', '#peers-none, #peers-table', 'peers', 'the peer view'),
            ('#/ledger', '#balance-available', 'ledger', 'the balance'),
            ('#/files', '#files-none, #files-table', 'files', 'the stored files'),
        ]
        for hash_, css, name, what in pages:
            self.open_page(hash_, css, what)
            self.assert_no_console_errors(name)
        self.open_page('#/', '#tiles .tile', 'the overview')
        # Three charts drawn by the embedded Chart.js, with samples in them.
        self.wait(lambda d: d.execute_script(
            "return ['jobs-chart','fuel-chart','queue-chart'].every(id => "
            "Chart.getChart(id) && Chart.getChart(id).data.labels.length >= 2)"),
            'two samples in every chart')
        self.screenshot('overview-before-jobs')
        self.find('#nav a[href="#/ledger"]').click()
        self.wait(lambda d: self.present('#verify-chain'), 'the ledger page')
        self.find('#verify-chain').click()
        self.wait(lambda d: self.attr('#verify-result', 'data-ok') == 'true', 'the chain to verify')
        self.assertIn('the chain holds', self.find('#verify-result').text)
        self.screenshot('ledger')
        self.open_page('#/peers', '#peers-none, #peers-table', 'the peer view')
        self.assertIn('without the mesh', self.find('#peers-none').text)
        self.wait(lambda d: self.present('#node-profile dl'), 'the node profile')
        self.screenshot('peers-no-mesh')
        self.assert_no_console_errors('the pages')

    def test_3_the_overview_fits_a_phone(self):
        self.sign_in(self.node.token)
        self.driver.set_window_size(390, 844)
        try:
            self.open_page('#/', '#tiles .tile', 'the overview at phone width')
            self.wait(lambda d: d.execute_script(
                'return document.documentElement.scrollWidth <= window.innerWidth'),
                'the page to fit the phone width without sideways scrolling')
            self.screenshot('overview-phone')
            self.open_page('#/submit', '#submit-form', 'the submit form at phone width')
            self.assertLessEqual(self.driver.execute_script(
                'return document.documentElement.scrollWidth - window.innerWidth'), 0)
            self.screenshot('submit-phone')
        finally:
            self.driver.set_window_size(1280, 1000)
        self.assert_no_console_errors('phone width')

    def test_4_a_job_submitted_through_the_form_completes_live(self):
        self.sign_in(self.node.token)
        self.open_page('#/submit', '#submit-form', 'the submit form')
        self.driver.execute_script('window.__sameDocument = 42')  # gone if the page reloads
        self.screenshot('submit')
        job_id = self.submit_through_form('progress', 'ignored', args='200000')
        states = self.wait(lambda d: [li.text for li in self.present('#submit-steps li')]
                           if self.attr('#submit-state', 'data-state') == 'succeeded' else None,
                           'the job to succeed on the page', timeout=60)
        self.assertEqual(states[-1], 'succeeded')
        self.assertGreaterEqual(len(states), 2, f'the state changed on the page: {states}')
        self.assertNotEqual(states[0], 'succeeded')
        self.assertEqual(self.driver.execute_script('return window.__sameDocument'), 42,
                         'the page was not reloaded')
        status, job = self.node.api('GET', '/v1/jobs/' + job_id)
        self.assertEqual((status, job['state']), (200, 'succeeded'))
        # Its detail page: state, output, history, explain, partial outputs (progress emits 10).
        self.find('#submit-job-link').click()
        self.wait(lambda d: self.attr('#job-state', 'data-state') == 'succeeded', 'the job page')
        self.wait(lambda d: self.present('#output-preview'), 'the output')
        self.assertTrue(self.find('#output-preview').text.startswith('done '))
        self.assertEqual(len(self.present('#partials-list li')), 10)
        phases = [li.get_attribute('data-phase') for li in self.present('#history-timeline li')]
        self.assertEqual(phases[0], 'submitted')
        self.assertTrue(self.present('#explain-none') or self.present('#explain-table'))
        self.assertTrue(self.find('#download-output').is_displayed())
        self.screenshot('job')
        # The jobs list shows it, filtered by state.
        self.open_page('#/jobs?state=succeeded', f'#jobs-table a[data-job="{job_id}"]',
                       'the job in the list')
        self.screenshot('jobs')
        self.assert_no_console_errors('submit and job detail')

    def test_5_a_chunk_proof_passes_in_the_browser_and_fails_with_one_byte_altered(self):
        self.sign_in(self.node.token)
        text = ''.join(f'line {i}\n' for i in range(9))
        job_id = self.submit_through_form('echo', text, split=('lines', 3))
        self.wait(lambda d: self.attr('#submit-state', 'data-state') == 'succeeded',
                  'the split job to succeed', timeout=60)
        self.find('#submit-job-link').click()
        self.wait(lambda d: self.find('#job-proof').is_displayed(), 'the proof panel')
        self.assertEqual(len(self.present('#chunks-table tbody tr')), 3)
        status, chunks = self.node.api('GET', f'/v1/jobs/{job_id}/chunks')
        self.assertEqual(self.find('#merkle-root').text, chunks['merkle_root'])
        for index in ('0', '2'):
            Select(self.find('#proof-chunk')).select_by_value(index)
            self.driver.execute_script("document.getElementById('proof-json').value = ''")
            self.find('#proof-fetch').click()
            self.wait(lambda d: self.find('#proof-json').get_attribute('value'), 'the proof')
            self.find('#proof-verify').click()
            self.wait(lambda d: self.attr('#proof-result', 'data-verdict') == 'pass',
                      f'chunk {index} to verify')
            self.assertIn(chunks['merkle_root'], self.find('#proof-result').text)
        self.screenshot('job-split-proof-ok', show='#proof-result')
        # One byte of the proof altered: the first path hash's first byte, flipped.
        answer = json.loads(self.find('#proof-json').get_attribute('value'))
        first = answer['proof']['path'][0]
        answer['proof']['path'][0] = '%02x' % (int(first[:2], 16) ^ 0x01) + first[2:]
        field = self.find('#proof-json')
        self.driver.execute_script('arguments[0].value = arguments[1]', field,
                                   json.dumps(answer, indent=2))
        self.find('#proof-verify').click()
        self.wait(lambda d: self.attr('#proof-result', 'data-verdict') == 'fail',
                  'the altered proof to fail')
        self.assertIn('invalid', self.find('#proof-result').text)
        self.screenshot('job-split-proof-altered', show='#proof-result')
        self.assert_no_console_errors('the split job')

    def test_6_the_overview_charts_jobs_as_they_run(self):
        self.sign_in(self.node.token)
        self.open_page('#/', '#tiles .tile', 'the overview')
        self.wait(lambda d: d.execute_script(
            "return Chart.getChart('jobs-chart').data.labels.length >= 1"), 'a first sample')
        status, before = self.node.api('GET', '/v1/node')
        self.assertEqual(status, 200)
        module = self.node.upload(os.path.join(ARGS.examples, 'progress.wasm'))
        jobs = [self.node.api('POST', '/v1/jobs', {'module': module, 'args': ['200000'],
                                                   'labels': {'batch': 'overview'}})
                for _ in range(4)]
        self.assertEqual([s for s, _ in jobs], [201] * 4)
        expected = before['stats']['succeeded'] + 4
        # The tiles and the charts follow without a reload: jobs finished per second and fuel
        # per second go above zero, and the succeeded count reaches the four new jobs.
        self.wait(lambda d: self.find('#tile-succeeded .value').text == str(expected),
                  f'the overview to count {expected} succeeded jobs', timeout=60)
        for chart in ('jobs-chart', 'fuel-chart'):
            self.wait(lambda d: d.execute_script(
                f"return Math.max(...Chart.getChart('{chart}').data.datasets[0].data) > 0"),
                f'{chart} to show the jobs')
        self.screenshot('overview')
        self.open_page('#/jobs', '#jobs-table', 'the job list')
        self.find('#filter-label').send_keys('batch=overview')
        self.wait(lambda d: len(self.present('#jobs-table tbody tr')) == 4,
                  'the label filter to keep the four jobs')
        self.screenshot('jobs-filtered')
        self.assert_no_console_errors('the overview and the job list')


    def test_7_a_jobs_output_files_are_listed_and_checked_in_the_browser(self):
        self.sign_in(self.node.token)
        module = self.node.upload(os.path.join(ARGS.examples, 'dir_sum.wasm'))
        with tempfile.NamedTemporaryFile() as f:
            f.write(b'abc')
            f.flush()
            data = self.node.upload(f.name)
        status, job = self.node.api('POST', '/v1/jobs', {
            'module': module, 'mounts': [{'cid': data, 'path': '/data/in.txt'}],
            'output_dir': '/out'})
        self.assertEqual(status, 201, job)
        self.open_page('#/jobs/' + job['id'], '#job-summary', 'the job detail')
        rows = self.wait(lambda d: self.present('#files-table tbody tr'), 'the output files', timeout=60)
        self.assertEqual([r.find_elements(By.CSS_SELECTOR, 'td')[0].text for r in rows], ['summary.txt'])
        self.find('#files-table .show-file').click()
        self.wait(lambda d: self.attr('#file-preview', 'data-path') == 'summary.txt', 'the file shown')
        self.assertEqual(self.find('#file-preview').text,
                         'in.txt 3 294\ntotal: 1 files, 3 bytes, sum 294')
        self.assertIn('SHA-256 checked here', self.find('#file-note').text)
        self.screenshot('job-files')
        self.assert_no_console_errors('the output files')

    def test_8_a_file_is_stored_listed_and_removed(self):
        self.sign_in(self.node.token)
        self.open_page('#/files', '#store-form', 'the stored files')
        with tempfile.TemporaryDirectory() as tmp:
            small = os.path.join(tmp, 'notes.txt')
            with open(small, 'wb') as f:
                f.write(b'kept across the mesh\n' * 10)
            self.find('#store-file').send_keys(small)
            self.find('#store-submit').click()
            rows = self.wait(lambda d: self.present('#files-table tbody tr'), 'the stored file')
            cells = [c.text for c in rows[0].find_elements(By.CSS_SELECTOR, 'td')]
            self.assertEqual(cells[0], 'notes.txt')
            self.assertEqual(cells[2], '210 B')
            self.assertEqual(cells[3], 'inline, encrypted')
            self.assertEqual(cells[4], 'in its manifest')
            self.assertEqual(cells[5], 'yes')
            self.find('#files-table .show-file').click()
            self.wait(lambda d: self.find('#file-detail').is_displayed(), 'the file detail')
            self.assertIn('Kept whole in its manifest', self.find('#file-detail').text)
            self.screenshot('files', show='#file-detail')
            # A larger file needs peers, and this node has none: the page says so.
            big = os.path.join(tmp, 'big.bin')
            with open(big, 'wb') as f:
                f.write(os.urandom(100_000))
            self.find('#store-file').send_keys(big)
            self.find('#store-submit').click()
            self.wait(lambda d: 'needs the mesh' in self.find('#files-error').text,
                      'the refusal of a file that needs peers')
            # The browser logs the refused request itself (409), and nothing else.
            logged = self.console_errors()
            self.assertTrue(all('409' in e['message'] for e in logged), logged)
        self.find('#files-table .rm-file').click()
        self.wait(lambda d: self.present('#files-none'), 'the file removed')
        self.assert_no_console_errors('the stored files')


class MeshTest(BrowserTest):
    """Two nodes joined over the mesh: the peer table, and a job placed on the market whose
    detail page shows the auction's bids as a table."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()  # cls.node: alone; replaced by a mesh pair below
        cls.node.stop()
        cls.node = Meshd(mesh_peers=[])
        cls.addClassCleanup(cls.node.stop)
        status, info = cls.node.api('GET', '/v1/node')
        assert status == 200, info
        cls.executor = Meshd(mesh_peers=[info['mesh']['address']])
        cls.addClassCleanup(cls.executor.stop)
        cls.executor_did = cls.executor.api('GET', '/v1/node')[1]['did']
        deadline = time.monotonic() + WAIT_S
        while True:
            status, view = cls.node.api('GET', '/v1/peers')
            if any(p['did'] == cls.executor_did and p['state'] == 'alive'
                   for p in view.get('peers', [])):
                break
            assert time.monotonic() < deadline, f'the executor never joined: {view}'
            time.sleep(0.05)

    def test_peers_and_a_market_job_explained(self):
        self.sign_in(self.node.token)
        short = self.executor_did[:20]
        self.open_page('#/peers', '#peers-table', 'the peer table')
        row = self.wait(lambda d: [r for r in self.present('#peers-table tbody tr')
                                   if short in r.text and 'alive' in r.text],
                        'the executor alive in the table')[0]
        self.assertIn('running', row.text)  # its load, from its heartbeats
        self.wait(lambda d: ' ms' in row.text, 'the executor\'s RTT')
        self.screenshot('peers')
        self.open_page('#/submit', '#submit-form', 'the submit form')
        Select(self.find('#placement')).select_by_value('remote')
        job_id = self.submit_through_form('echo', 'placed by the market\n')
        self.wait(lambda d: self.attr('#submit-state', 'data-state') == 'succeeded',
                  'the market job to succeed', timeout=60)
        self.find('#submit-job-link').click()
        self.wait(lambda d: self.present('#explain-table'), 'the explain table')
        rows = [r.text for r in self.present('#explain-table tbody tr')]
        self.assertTrue(any(short in r and 'won' in r and 'selected' in r for r in rows), rows)
        status, job = self.node.api('GET', '/v1/jobs/' + job_id)
        self.assertEqual((job['placement'], job['executor']), ('market', self.executor_did))
        self.assertIn(self.executor_did, self.find('#job-summary').text)
        self.screenshot('job-explain', show='#job-explain')
        self.assert_no_console_errors('the mesh pages')


class RolesTest(BrowserTest):
    """Needs accounts and roles (issue 18 part 3): POST /v1/users and GET /v1/me."""

    def test_a_read_only_user_cannot_see_the_submit_form(self):
        status, user = self.node.api('POST', '/v1/users', {'name': 'viewer', 'role': 'read'})
        self.assertEqual(status, 201, f'POST /v1/users (accounts and roles): {user}')
        self.sign_in(user['token'])
        self.assertEqual(self.find('#user-role').text, 'read')
        self.assertEqual(self.find('#user-name').text, 'viewer')
        self.assertFalse(self.find('#nav-submit').is_displayed())
        self.open_page('#/submit', '#submit-forbidden', 'the refusal to show the form')
        self.assertEqual(self.present('#submit-form'), [])
        self.screenshot('submit-read-only')
        # What the form would do is refused by the node too.
        status, _ = self.node.api('POST', '/v1/jobs', {'module': 'bafkreiaaaa'}, token=user['token'])
        self.assertEqual(status, 403)
        self.assert_no_console_errors('the read-only view')


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument('--meshd', required=True)
    parser.add_argument('--examples', required=True)
    parser.add_argument('--screenshots', required=True)
    parser.add_argument('--chromium', default='/usr/bin/chromium')
    parser.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
