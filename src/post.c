/*
 * post.c: releasing a struct td_post (see post.h).
 *
 * Kept in its own file because every source (feeds, the posts folder)
 * builds posts and every consumer frees them; none of them should need to
 * know the others to do it.
 */
#include "tagdigest/post.h"

#include <stdlib.h>
#include <string.h>

void td_post_free(struct td_post *post)
{
	if (!post)
		return;
	free(post->guid);
	free(post->url);
	free(post->title);
	free(post->author);
	td_strv_free(&post->tags);
	td_strv_free(&post->tag_names);
	free(post->excerpt_html);
	free(post->excerpt_text);
	free(post->content_html);
	free(post->content_hash);
	/* Zeroed so that a second free, or freeing a post a failed parse
	 * left behind, is harmless. */
	memset(post, 0, sizeof *post);
}
