/**
 * Latchkey's web UI: Log in, Create account, the Dashboard (protected), and the token inspector.
 * The page resumes a session on load through the refresh cookie; it keeps the access token in memory
 * only; when the session ends (revoked, expired, logged out in another tab) it lands on Log in and says
 * why.
 */
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { DashboardPage } from './pages/dashboard.js';
import { InspectPage } from './pages/inspect.js';
import { LoginPage } from './pages/login.js';
import { RegisterPage } from './pages/register.js';
import { navigate, onLinkClick, type Route, routeOf, safeNext, useLocation } from './router.js';
import { client, logoutNotice } from './session.js';

const TITLES: Record<Route, string> = {
  '/login': 'Log in',
  '/register': 'Create account',
  '/dashboard': 'Dashboard',
  '/inspect': 'Token inspector',
  'not-found': 'Not found',
};

const PROTECTED: ReadonlySet<Route> = new Set(['/dashboard']);
const GUEST_ONLY: ReadonlySet<Route> = new Set(['/login', '/register']);

function here(): string {
  return location.pathname + location.search;
}

/** To Log in, with a return to where you were (when that is a protected page) and a reason. */
function toLogin(notice: string): void {
  const next = PROTECTED.has(routeOf(location.pathname)) ? `?next=${encodeURIComponent(here())}` : '';
  navigate(`/login${next}`, { notice }, true);
}

function App() {
  const loc = useLocation();
  const [restored, setRestored] = useState(false);
  const [authenticated, setAuthenticated] = useState(false);

  useEffect(() => {
    const offs = [
      // Logged in on Log in: the effect below moves on to the page you wanted.
      client.on('authenticated', () => setAuthenticated(true)),
      client.on('refreshed', () => setAuthenticated(true)),
      client.on('sessionExpired', () => {
        setAuthenticated(false);
        toLogin(
          'Your session has ended: it was revoked (for example from another device, by logging out everywhere, or by a change of password) or it expired. Log in again to continue.',
        );
      }),
      client.on('loggedOut', () => {
        setAuthenticated(false);
        const notice = logoutNotice.next ?? 'You were logged out (in another tab of this browser).';
        logoutNotice.next = null;
        toLogin(notice);
      }),
    ];
    // A session from before this page load is resumed through the refresh cookie.
    client
      .restore()
      .catch(() => false)
      .then((resumed) => {
        setAuthenticated(resumed);
        setRestored(true);
      });
    return () => {
      for (const off of offs) off();
    };
  }, []);

  const needsLogin = restored && !authenticated && PROTECTED.has(loc.route);
  useEffect(() => {
    if (!needsLogin) return;
    // The site's own address is where everyone starts: Log in there needs no reason given.
    if (location.pathname === '/') navigate('/login', null, true);
    else navigate(`/login?next=${encodeURIComponent(here())}`, { notice: 'Log in to see that page.' }, true);
  }, [needsLogin]);
  useEffect(() => {
    if (restored && authenticated && GUEST_ONLY.has(loc.route)) {
      navigate(safeNext(loc.search.get('next')), null, true);
    }
  }, [restored, authenticated, loc.route]);

  useEffect(() => {
    document.title = `${TITLES[loc.route]} · Latchkey`;
    // A new page: take keyboard and screen-reader focus to its heading.
    if (restored) document.getElementById('page-title')?.focus({ preventScroll: true });
  }, [loc.route, loc.pathname, restored]);

  let page = null;
  if (!restored || needsLogin) {
    page = (
      <p class="loading" role="status">
        Loading…
      </p>
    );
  } else if (loc.route === '/login') page = <LoginPage location={loc} key={`login${here()}`} />;
  else if (loc.route === '/register') page = <RegisterPage location={loc} />;
  else if (loc.route === '/dashboard') page = <DashboardPage />;
  else if (loc.route === '/inspect') page = <InspectPage />;
  else {
    page = (
      <section class="card narrow">
        <h1 id="page-title" tabIndex={-1}>
          Not found
        </h1>
        <p>
          There is no page at <code>{loc.pathname}</code>.{' '}
          <a href="/dashboard" onClick={onLinkClick}>
            Go to the Dashboard
          </a>
          .
        </p>
      </section>
    );
  }

  const link = (href: Route, text: string) => (
    <a href={href} onClick={onLinkClick} aria-current={loc.route === href ? 'page' : undefined}>
      {text}
    </a>
  );
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/" onClick={onLinkClick}>
          Latchkey
        </a>
        <nav aria-label="Main">
          {authenticated ? link('/dashboard', 'Dashboard') : null}
          {link('/inspect', 'Token inspector')}
          {authenticated ? null : link('/login', 'Log in')}
          {authenticated ? null : link('/register', 'Create account')}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
