import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { Provider } from "urql";
import { ApiContext } from "./api-context.ts";
import { clearSession, loadSession, type Session, saveSession } from "./auth.ts";
import { createApi } from "./client.ts";
import { BatchesPage, BatchPage } from "./pages/Batches.tsx";
import { SignIn } from "./pages/SignIn.tsx";
import { UploadPage } from "./pages/Upload.tsx";
import { Link, useLocation } from "./router.tsx";

// The pages after upload and batches load on demand: the first load stays small.
const DocumentsPage = lazy(() => import("./pages/Documents.tsx").then((m) => ({ default: m.DocumentsPage })));
const DocumentPage = lazy(() => import("./pages/Document.tsx").then((m) => ({ default: m.DocumentPage })));
const ReviewPage = lazy(() => import("./pages/Review.tsx").then((m) => ({ default: m.ReviewPage })));
const SearchPage = lazy(() => import("./pages/Search.tsx").then((m) => ({ default: m.SearchPage })));
const CategoriesPage = lazy(() =>
  import("./pages/Categories.tsx").then((m) => ({ default: m.CategoriesPage })),
);

const NAV = [
  ["/", "Upload"],
  ["/batches", "Batches"],
  ["/documents", "Documents"],
  ["/review", "Review"],
  ["/search", "Search"],
  ["/categories", "Categories"],
] as const;

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const api = useMemo(() => (session ? createApi(session) : null), [session]);
  useEffect(() => () => api?.close(), [api]);
  const { path } = useLocation();

  if (!api || !session)
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  const signOut = () => {
    clearSession();
    setSession(null);
  };
  return (
    <ApiContext.Provider value={{ api, signOut }}>
      <Provider value={api.urql}>
        <header className="top">
          <strong className="brand">docfleet</strong>
          <nav>
            {NAV.map(([href, label]) => (
              <Link
                key={href}
                href={href}
                className={(href === "/" ? path === "/" : path.startsWith(href)) ? "active" : undefined}
              >
                {label}
              </Link>
            ))}
          </nav>
          <span className="who" title={session.server}>
            {session.server === window.location.origin ? "this server" : session.server}
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </header>
        <main>
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Page path={path} />
          </Suspense>
        </main>
      </Provider>
    </ApiContext.Provider>
  );
}

function Page({ path }: { path: string }) {
  const [, section, id] = path.split("/");
  switch (section) {
    case "":
    case "upload":
      return <UploadPage />;
    case "batches":
      return id ? <BatchPage id={decodeURIComponent(id)} /> : <BatchesPage />;
    case "documents":
      return id ? <DocumentPage id={decodeURIComponent(id)} /> : <DocumentsPage />;
    case "review":
      return <ReviewPage />;
    case "search":
      return <SearchPage />;
    case "categories":
      return <CategoriesPage />;
    default:
      return <p>No such page.</p>;
  }
}
