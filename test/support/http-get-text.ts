import http from 'node:http';
import https from 'node:https';

/** GETs `url` (http or https, by its scheme) with `agent` and resolves with the body as text. */
export function httpGetText(url: string, agent: http.Agent): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    (url.startsWith('https:') ? https : http)
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}
