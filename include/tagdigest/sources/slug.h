/*
 * slug: tag names to the slugs WordPress puts in its URLs
 * ("Sergey Lavrov" -> "sergey-lavrov", "Côte d'Ivoire" -> "côte-divoire").
 *
 * ASCII letters are lowercased, non-ASCII UTF-8 letters are kept (and
 * lowercased for Latin-1, Latin Extended-A, Greek and Cyrillic), runs of
 * spaces, underscores and punctuation become one '-', apostrophes vanish,
 * and leading/trailing '-' are trimmed.
 */
#ifndef TAGDIGEST_SLUG_H
#define TAGDIGEST_SLUG_H

/* Returns a malloc'd slug; "" when nothing sluggable remains. */
char *td_slugify(const char *name);

#endif
