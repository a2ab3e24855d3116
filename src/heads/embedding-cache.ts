/**
 * Head embeddings remembered by photo content: SQLite in the cache folder
 * (`<cache>/embeddings.sqlite`), keyed by the model's SHA-256, the recipe
 * (preprocessing mode and views) and the photo's SHA-256, so retraining after
 * adding five photos embeds five photos. Each row keeps the head embedding
 * (float32) and the backbone's class probabilities (float16), which
 * rejection needs.
 */
import Database from 'better-sqlite3';
import { openCacheDatabase } from './cache-db.js';
import { floatBytes, fromFloatBytes, fromHalfBytes, halfBytes } from './vectors.js';

/** What is cached per photo. */
export interface CachedEmbedding {
  embedding: Float32Array;
  probabilities: Float32Array;
}

export class EmbeddingCache {
  private readonly db: Database.Database;
  private readonly get: Database.Statement;
  private readonly put: Database.Statement;

  constructor(cacheDir: string) {
    const { db, prepared } = openCacheDatabase(cacheDir, 'embeddings.sqlite', (d) => {
      d.exec(`CREATE TABLE IF NOT EXISTS embeddings (
        model TEXT NOT NULL, recipe TEXT NOT NULL, photo TEXT NOT NULL,
        embedding BLOB NOT NULL, probabilities BLOB NOT NULL,
        PRIMARY KEY (model, recipe, photo)) WITHOUT ROWID`);
      return {
        get: d.prepare('SELECT embedding, probabilities FROM embeddings WHERE model = ? AND recipe = ? AND photo = ?'),
        put: d.prepare('INSERT OR REPLACE INTO embeddings (model, recipe, photo, embedding, probabilities) VALUES (?, ?, ?, ?, ?)'),
      };
    });
    this.db = db;
    this.get = prepared.get;
    this.put = prepared.put;
  }

  /** The cached entry of a photo (by content SHA-256), if any. */
  lookup(model: string, recipe: string, photo: string): CachedEmbedding | null {
    const row = this.get.get(model, recipe, photo) as { embedding: Buffer; probabilities: Buffer } | undefined;
    return row ? { embedding: fromFloatBytes(row.embedding), probabilities: fromHalfBytes(row.probabilities) } : null;
  }

  /** Remembers entries, in one transaction. */
  store(model: string, recipe: string, entries: { photo: string; value: CachedEmbedding }[]): void {
    this.db.transaction(() => {
      for (const { photo, value } of entries) this.put.run(model, recipe, photo, floatBytes(value.embedding), halfBytes(value.probabilities));
    })();
  }

  close(): void {
    this.db.close();
  }
}
