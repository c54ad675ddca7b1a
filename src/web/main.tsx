// The UI's entry: mounts the app and lets plain links change the page in place.
import { render } from 'preact';
import { App } from './app.js';
import { interceptLinks } from './router.js';
import './styles.css';

interceptLinks();
render(<App />, document.getElementById('app')!);
