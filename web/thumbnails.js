// Thumbnails fetched with the API key (an <img src> cannot send one), for the Teach and Library views.
import { authHeaders } from './common.js';

/**
 * A cache of thumbnails as object URLs, by key: each fetched once and reused when the view redraws; one that
 * could not be fetched leaves the image's placeholder and is asked for again next time.
 */
export function thumbnailCache() {
  const urls = new Map();
  return {
    /** Shows the picture at `address` in `img`, under `key`. */
    async show(img, key, address) {
      if (!urls.has(key)) {
        urls.set(key, fetch(address, { headers: authHeaders() }).then(async (res) => (res.ok ? URL.createObjectURL(await res.blob()) : null)).catch(() => null));
      }
      const url = await urls.get(key);
      if (url) img.src = url;
      else urls.delete(key);
    },
    /** Lets go of every thumbnail whose key `keep` does not accept (of all, without it). */
    forget(keep = () => false) {
      for (const [key, url] of urls) {
        if (keep(key)) continue;
        urls.delete(key);
        url.then((u) => u && URL.revokeObjectURL(u));
      }
    },
  };
}
