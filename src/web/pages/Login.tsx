// The login form. A wrong password, the throttle's 429 (with how long to
// wait) and a refused origin each say what happened.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ApiError, loginErrorText } from '../lib/errors.js';
import { href } from '../lib/routes.js';
import { navigate } from '../router.js';
import { useSession } from '../session.js';
import { useTitle } from '../hooks.js';

export function LoginPage({ next, notice }: { next: string | null; notice: string | null }) {
  useTitle('Log in');
  const { session, setSession } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  // Which field the error is about (both: a refused login), tied to it with aria-describedby and aria-invalid.
  const [errorFor, setErrorFor] = useState<'username' | 'password' | 'both'>('both');
  const tied = (field: 'username' | 'password') => (error && (errorFor === field || errorFor === 'both')
    ? { 'aria-invalid': true as const, 'aria-describedby': 'login-error' }
    : {});
  const [busy, setBusy] = useState(false);

  if (session?.mode === 'none') {
    return (
      <section class="page narrow">
        <h1 tabIndex={-1}>Log in</h1>
        <p>This gateway has no logins (auth.mode none): everyone may do what its rules allow.</p>
        <p><a href={href({ page: 'repositories', q: '' })}>Browse the repositories</a></p>
      </section>
    );
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!username || !password) {
      setError(!username ? 'Type your username.' : 'Type your password.');
      setErrorFor(!username ? 'username' : 'password');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = await api.login(username, password);
      setSession({ user: result.user, expiresAt: result.expiresAt, mode: session?.mode ?? 'htpasswd' });
      navigate(next ?? href({ page: 'repositories', q: '' }), { replace: true });
    } catch (e) {
      setError(e instanceof ApiError ? loginErrorText(e) : (e as Error).message);
      setErrorFor('both');
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page narrow">
      <h1 tabIndex={-1}>Log in</h1>
      {notice && (
        <p class="alert warning" role="alert" data-testid="session-ended">{notice}</p>
      )}
      {session?.user && (
        <p>You are logged in as <strong>{session.user}</strong>. Logging in again switches the user.</p>
      )}
      <form class="form" onSubmit={submit} noValidate>
        <label for="login-username">Username</label>
        <input
          id="login-username"
          {...tied('username')}
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          {...tied('password')}
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {error && (
          <p class="alert error" role="alert" id="login-error" data-testid="login-error">{error}</p>
        )}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
      {/* Not after a 401: anonymous may not look there, and the link would come straight back here. */}
      {!notice && !session?.user && (
        <p class="muted">Or <a href={href({ page: 'repositories', q: '' })}>browse without logging in</a>: you see what the gateway lets anyone pull.</p>
      )}
    </section>
  );
}
