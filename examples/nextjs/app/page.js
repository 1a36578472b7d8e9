import Link from "next/link";

export default function Home() {
  return (
    <main>
      <h1>Example app</h1>
      <p>
        <Link href="/account">Your account</Link>
      </p>
    </main>
  );
}
